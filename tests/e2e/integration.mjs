// An integration written with @botpress/sdk (no `bp build`), its definition in definitions.mjs:
// a chat app with one channel. It records what the platform sends it and acknowledges every
// outgoing text message with the id the chat app gave it: `ack({tags: {id: 'ext-<message id>'}})`,
// which the SDK turns into `PUT /v1/chat/messages/<id>` under the integration's identity. Its
// `greet` action answers `Hello, <name>!`, except for `Nobody`, for whom it throws a RuntimeError;
// its `findUser` action answers `{found}` and records what the client threw for a missing user.
//
//   BP_API_URL=http://127.0.0.1:8080 BP_TOKEN=<integration API key> \
//   PARLEY_E2E_PORT=8076 PARLEY_E2E_RECORD=integration.jsonl node integration.mjs

import { Integration, RuntimeError, isApiError } from './sdk.mjs'

import { CHANNEL } from './definitions.mjs'
import { listenPort, record } from './record.mjs'

const NOBODY = 'Nobody'

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
  handler: async ({ ctx, req }) => record({ kind: 'webhook', ctx, req }),
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
          const tags = { id: `ext-${message.id}` }
          await ack({ tags })
          record({ kind: 'acked', messageId: message.id, tags })
        },
      },
    },
  },
})

await integration.start(listenPort())
