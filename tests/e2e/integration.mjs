// An integration written with @botpress/sdk (no `bp build`), its definition in definitions.mjs:
// a chat app with one channel. It records what the platform sends it and acknowledges every
// outgoing text message with the id the chat app gave it: `ack({tags: {id: 'ext-<message id>'}})`,
// which the SDK turns into `PUT /v1/chat/messages/<id>` under the integration's identity. Its
// `greet` action answers `Hello, <name>!`, except for `Nobody`, for whom it throws a RuntimeError;
// its `findUser` action answers `{found}` and records what the client threw for a missing user.
// Updates posted to its webhook URL become incoming messages, as Telegram's do; with
// PARLEY_E2E_CHAT_SERVICE set, outgoing text messages are posted there as well.
//
//   BP_API_URL=http://127.0.0.1:8080 BP_TOKEN=<integration API key> \
//   PARLEY_E2E_PORT=8076 PARLEY_E2E_RECORD=integration.jsonl [PARLEY_E2E_CHAT_SERVICE=<url>] node integration.mjs

import { Integration, RuntimeError, isApiError } from './sdk.mjs'

import { CHANNEL } from './definitions.mjs'
import { listenPort, record } from './record.mjs'

const NOBODY = 'Nobody'
// The chat app's API, where outgoing messages are posted, when the test stands one up.
const CHAT_SERVICE = process.env.PARLEY_E2E_CHAT_SERVICE

const integration = new Integration({
  // Like the Telegram, Slack and GitHub integrations, register names the user that stands for the
  // bot in this integration (ctx.botUserId). Its outcome is recorded, not thrown, so that a
  // failure here shows as such instead of as a failed registration.
  register: async ({ ctx, webhookUrl, client }) => {
    record({ kind: 'register', ctx, webhookUrl })
    try {
      const { user } = await client.updateUser({ id: ctx.botUserId, name: 'Echo bot' })
      record({ kind: 'bot_user_named', user })
    } catch (error) {
      record({ kind: 'bot_user_not_named', botUserId: ctx.botUserId, error: String(error?.message ?? error) })
    }
  },
  unregister: async ({ ctx, webhookUrl }) => record({ kind: 'unregister', ctx, webhookUrl }),
  // What Telegram's handler does with an update posted to its webhook URL: find or create the
  // chat's conversation, the sender and the message, each by the chat app's own id, so that an
  // update delivered twice makes one message. A GET is the chat app's subscription handshake.
  handler: async ({ ctx, req, client }) => {
    record({ kind: 'webhook', ctx, req })
    if (req.method === 'GET') {
      const query = new URLSearchParams(req.query)
      if (query.get('hub.verify_token') !== ctx.configuration.channelToken) {
        return { status: 403, body: 'wrong verify token' }
      }
      return { status: 200, body: query.get('hub.challenge') ?? '' }
    }
    const { message: update } = JSON.parse(req.body)
    const { conversation } = await client.getOrCreateConversation({
      channel: CHANNEL,
      tags: { id: String(update.chat.id) },
      discriminateByTags: ['id'],
    })
    const { user } = await client.getOrCreateUser({
      tags: { id: String(update.from.id) },
      name: update.from.first_name,
      discriminateByTags: ['id'],
    })
    const { message } = await client.getOrCreateMessage({
      type: 'text',
      payload: { text: update.text },
      conversationId: conversation.id,
      userId: user.id,
      tags: { id: String(update.message_id) },
    })
    record({ kind: 'webhook_message', message })
    return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ok: true }) }
  },
  actions: {
    greet: async ({ ctx, type, input }) => {
      record({ kind: 'action', ctx, type, input })
      if (input.name === NOBODY) {
        throw new RuntimeError(`${NOBODY} cannot be greeted.`)
      }
      return { text: `Hello, ${input.name}!` }
    },
    findUser: async ({ input, client }) => {
      try {
        await client.getUser({ id: input.id })
        return { found: true }
      } catch (error) {
        const { name, type, code, message } = error
        const thrown = { apiError: isApiError(error), name, type, code, message }
        record({ kind: 'find_user_failed', id: input.id, error: thrown })
        return { found: false }
      }
    },
  },
  channels: {
    [CHANNEL]: {
      messages: {
        text: async ({ ctx, type, payload, conversation, message, user, ack }) => {
          record({ kind: 'message', ctx, type, payload, conversation, message, user })
          if (CHAT_SERVICE) {
            // Like Telegram's sendMessage: the chat app's API gets the text for its chat.
            const sent = await fetch(CHAT_SERVICE, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ chatId: conversation.tags.id, text: payload.text }),
            })
            if (!sent.ok) {
              throw new RuntimeError(`The chat service answered ${sent.status}.`)
            }
          }
          const tags = { id: `ext-${message.id}` }
          await ack({ tags })
          record({ kind: 'acked', messageId: message.id, tags })
        },
      },
    },
  },
})

await integration.start(listenPort())
