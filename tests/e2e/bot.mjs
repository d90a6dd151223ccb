// A bot written with @botpress/sdk (no `bp build`): it answers every incoming text message with
// `echo: <text>` in the same conversation, through the Runtime API at $BP_API_URL with $BP_TOKEN.
//
//   BP_API_URL=http://127.0.0.1:8080 BP_TOKEN=<bot API key or admin token> \
//   PARLEY_E2E_PORT=8075 PARLEY_E2E_RECORD=bot.jsonl node bot.mjs
//
// Each handled message is recorded (`received` before the reply, `replied` after it).

import { Bot } from './sdk.mjs'

import { listenPort, record } from './record.mjs'

const bot = new Bot({ actions: {}, plugins: {} })

bot.on.message('text', async ({ ctx, event, message, conversation, user, client }) => {
  record({ kind: 'received', ctx, event, message, conversation, user })
  try {
    const { message: reply } = await client.createMessage({
      conversationId: message.conversationId,
      userId: ctx.botId,
      type: 'text',
      payload: { text: `echo: ${message.payload.text}` },
      tags: {},
    })
    record({ kind: 'replied', to: message.id, reply })
  } catch (error) {
    record({ kind: 'reply_failed', to: message.id, error: String(error?.message ?? error) })
    throw error
  }
})

await bot.start(listenPort())
