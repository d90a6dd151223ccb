// Talks to a bot through Parley's Chat API with the official @botpress/chat client (pinned in
// package.json), as a person's application would: users, conversations, the live stream, messages
// answered by the echo bot, participants, custom events both ways, the client's typed errors, and
// ids the client chooses.
//
//   CHAT_URL=http://127.0.0.1:8080/chat/<webhookId> CHAT_MODE=shared node scenario.mjs
//
// CHAT_LISTEN_URL (default CHAT_URL) is where streams are opened: another process of the same
// deployment, so that what is written through one must reach streams held by the other.
// CHAT_MODE=personal with CHAT_ENCRYPTION_KEY: the installation signs no keys; the client does.
// CHAT_SCENARIO=listen-chosen-id runs only the listen of a conversation whose id has a "/".
//
// Every check runs and prints `ok` or `FAIL`; a failed step that later checks need ends the run.
// The last line is `RESULT <json>`: what the caller checks on the bot's side.

import assert from 'node:assert/strict'
import { createHmac, randomBytes } from 'node:crypto'

import {
  AlreadyExistsError,
  Client,
  ForbiddenError,
  InvalidPayloadError,
  ResourceNotFoundError,
  UnauthorizedError,
  isApiError,
} from '@botpress/chat'

const apiUrl = process.env.CHAT_URL
const listenUrl = process.env.CHAT_LISTEN_URL || apiUrl
const mode = process.env.CHAT_MODE
const encryptionKey = process.env.CHAT_ENCRYPTION_KEY
if (!apiUrl || !['shared', 'personal'].includes(mode) || (mode === 'personal' && !encryptionKey)) {
  console.error('Set CHAT_URL, CHAT_MODE=shared|personal and, for personal, CHAT_ENCRYPTION_KEY.')
  process.exit(2)
}
const SIGNAL_WAIT_MS = 10_000
const run = randomBytes(4).toString('hex')
const result = { mode, run }
const failed = []

class Stop extends Error {}

function describe(error) {
  if (isApiError(error)) {
    return `unexpected ${error.constructor.name} [${error.type} ${error.code}] ${error.message}`
  }
  if (error instanceof Error) {
    return error.stack
  }
  // The stream's errors are events of the eventsource package: a status and a message.
  return `${error?.type ?? typeof error}: status ${error?.status} ${error?.message}`
}

/** Runs one check; `needed` marks a step without which the rest cannot run. */
async function check(name, fn, { needed = false } = {}) {
  try {
    await fn()
    console.log(`ok   ${name}`)
  } catch (error) {
    failed.push(name)
    console.log(`FAIL ${name}\n     ${describe(error).split('\n').join('\n     ')}`)
    if (needed) {
      throw new Stop(name)
    }
  }
}

/** `promise` must reject with an instance of `errorClass` (the client's own class). */
async function rejectsWith(promise, errorClass, messageIncludes) {
  let thrown
  try {
    await promise
  } catch (error) {
    thrown = error
  }
  assert.ok(thrown !== undefined, `expected ${errorClass.name}, but the call succeeded`)
  assert.ok(
    thrown instanceof errorClass,
    `expected ${errorClass.name}, got ${thrown?.constructor?.name}: ${thrown?.message} (${JSON.stringify(thrown)})`,
  )
  if (messageIncludes) {
    assert.ok(thrown.message.includes(messageIncludes), `message ${JSON.stringify(thrown.message)}`)
  }
  return thrown
}

/** A key for `userId` signed with `secret`, as jsonwebtoken makes them (HS256, `{id, iat}`). */
function signKey(secret, claims) {
  const part = (value) => Buffer.from(JSON.stringify(value)).toString('base64url')
  const signed = `${part({ alg: 'HS256', typ: 'JWT' })}.${part({ iat: Math.floor(Date.now() / 1000), ...claims })}`
  return `${signed}.${createHmac('sha256', secret).update(signed).digest('base64url')}`
}

/** Signs a user in: the platform's key in shared mode, a self-signed one in personal mode. */
async function connect(url, userId) {
  if (mode === 'personal') {
    return Client.connect({ apiUrl: url, encryptionKey, userId: userId ?? `user-${run}-${randomBytes(3).toString('hex')}` })
  }
  return Client.connect(userId === undefined ? { apiUrl: url } : { apiUrl: url, userId })
}

/** Every signal a listener receives, in order, and a way to wait for one. */
class Signals {
  constructor(listener) {
    this.listener = listener
    this.received = []
    this.errors = []
    this._waiters = []
    for (const type of ['message_created', 'event_created', 'participant_added', 'participant_removed', 'message_deleted', 'unknown']) {
      listener.on(type, (data) => this._push({ type, data }))
    }
    listener.on('error', (error) => this._push({ type: 'error', data: error }))
  }

  _push(signal) {
    if (signal.type === 'error') {
      this.errors.push(signal.data)
    }
    this.received.push(signal)
    this._waiters = this._waiters.filter((waiter) => !waiter(signal))
  }

  /** The first signal of `type` matching `matches`, received already or within SIGNAL_WAIT_MS. */
  next(type, matches = () => true, what = type) {
    const found = this.received.find((s) => s.type === type && matches(s.data))
    if (found) {
      return Promise.resolve(found.data)
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const seen = this.received.map((s) => `${s.type} ${JSON.stringify(s.data)}`).join('\n  ')
        reject(new Error(`no ${what} on the stream within ${SIGNAL_WAIT_MS} ms; received:\n  ${seen || '(nothing)'}`))
      }, SIGNAL_WAIT_MS)
      this._waiters.push((signal) => {
        if (signal.type !== type || !matches(signal.data)) {
          return false
        }
        clearTimeout(timer)
        resolve(signal.data)
        return true
      })
    })
  }
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/

async function main() {
  let alice, aliceListening, bob, conversation, signals, bobSignals, hi, echo, event

  await check('connect: a user and a key', async () => {
    alice = await connect(apiUrl)
    assert.equal(typeof alice.user.id, 'string')
    assert.equal(typeof alice.user.key, 'string')
    assert.match(alice.user.createdAt, ISO)
    result.alice = alice.user.id
  }, { needed: true })

  if (mode === 'personal') {
    await check('personal mode: createUser is refused with UnauthorizedError', async () => {
      await rejectsWith(new Client({ apiUrl }).createUser({}), UnauthorizedError)
      await rejectsWith(Client.connect({ apiUrl }), UnauthorizedError)
    })
    await check('personal mode: the user of a self-signed key is the id chosen', async () => {
      assert.ok(alice.user.id.startsWith(`user-${run}-`), alice.user.id)
      const again = await Client.connect({ apiUrl, encryptionKey, userId: alice.user.id })
      assert.equal(again.user.id, alice.user.id)
    })
  }

  await check('users: get and update me', async () => {
    const { user } = await alice.getUser({})
    assert.equal(user.id, alice.user.id)
    const updated = await alice.updateUser({ name: 'Alice', pictureUrl: 'https://example.com/a.png', profile: 'likes tea' })
    assert.equal(updated.user.name, 'Alice')
    assert.equal(updated.user.profile, 'likes tea')
    assert.equal((await alice.getUser({})).user.name, 'Alice')
  })

  await check('a conversation is created, and listened to on the other process', async () => {
    conversation = (await alice.createConversation({})).conversation
    assert.equal(typeof conversation.id, 'string')
    assert.match(conversation.createdAt, ISO)
    aliceListening = await Client.connect({ apiUrl: listenUrl, userKey: alice.user.key })
    assert.equal(aliceListening.user.id, alice.user.id)
    signals = new Signals(await aliceListening.listenConversation({ id: conversation.id }))
    result.conversation = conversation.id
  }, { needed: true })

  await check('"hi" arrives on the stream, then the bot\'s echo with isBot: true', async () => {
    hi = (await alice.createMessage({ conversationId: conversation.id, payload: { type: 'text', text: 'hi' } })).message
    assert.deepEqual(hi.payload, { type: 'text', text: 'hi' })
    assert.equal(hi.conversationId, conversation.id)
    assert.equal(hi.userId, alice.user.id)
    const own = await signals.next('message_created', (m) => m.id === hi.id, 'the user\'s own message')
    assert.equal(own.isBot, false)
    assert.deepEqual(own.payload, { type: 'text', text: 'hi' })
    echo = await signals.next('message_created', (m) => m.isBot, 'the bot\'s reply')
    assert.deepEqual(echo.payload, { type: 'text', text: 'echo: hi' })
    assert.equal(echo.conversationId, conversation.id)
    assert.notEqual(echo.userId, alice.user.id)
    assert.match(echo.createdAt, ISO)
  }, { needed: true })

  await check('listMessages: both messages, newest first', async () => {
    const { messages } = await alice.listMessages({ conversationId: conversation.id })
    assert.deepEqual(messages.map((m) => m.id), [echo.id, hi.id])
    assert.deepEqual(messages[1].payload, { type: 'text', text: 'hi' })
    assert.deepEqual(messages[0].payload, { type: 'text', text: 'echo: hi' })
    const listed = await alice.list.messages({ conversationId: conversation.id }).collect()
    assert.deepEqual(listed.map((m) => m.id), [echo.id, hi.id])
    assert.deepEqual((await alice.getMessage({ id: hi.id })).message.payload, hi.payload)
  })

  await check('listConversations: the user\'s own', async () => {
    const { conversations } = await alice.listConversations({})
    assert.ok(conversations.some((c) => c.id === conversation.id), JSON.stringify(conversations))
  })

  await check('participants: another user is added, got, listed', async () => {
    bob = await connect(apiUrl)
    result.bob = bob.user.id
    const { participant } = await alice.addParticipant({ conversationId: conversation.id, userId: bob.user.id })
    assert.equal(participant.id, bob.user.id)
    const added = await signals.next('participant_added', (d) => d.participantId === bob.user.id)
    assert.equal(added.conversationId, conversation.id)
    assert.equal((await alice.getParticipant({ conversationId: conversation.id, userId: bob.user.id })).participant.id, bob.user.id)
    const { participants } = await alice.listParticipants({ conversationId: conversation.id })
    assert.deepEqual(new Set(participants.map((p) => p.id)), new Set([alice.user.id, bob.user.id]))
    // A participant reads the conversation and listens to it.
    assert.equal((await bob.getConversation({ id: conversation.id })).conversation.id, conversation.id)
    assert.equal((await bob.listMessages({ conversationId: conversation.id })).messages.length, 2)
    const bobListening = await Client.connect({ apiUrl: listenUrl, userKey: bob.user.key })
    bobSignals = new Signals(await bobListening.listenConversation({ id: conversation.id }))
  }, { needed: true })

  await check('participants: only the owner manages them (ForbiddenError)', async () => {
    await rejectsWith(bob.removeParticipant({ conversationId: conversation.id, userId: alice.user.id }), ForbiddenError)
    await rejectsWith(bob.getParticipant({ conversationId: conversation.id, userId: alice.user.id }), ForbiddenError)
  })

  await check('participants: removing one signals participant_removed and ends his stream', async () => {
    await alice.removeParticipant({ conversationId: conversation.id, userId: bob.user.id })
    const removed = await signals.next('participant_removed', (d) => d.participantId === bob.user.id)
    assert.equal(removed.conversationId, conversation.id)
    await bobSignals.next('error', () => true, 'the end of the removed user\'s stream')
    await rejectsWith(alice.getParticipant({ conversationId: conversation.id, userId: bob.user.id }), ResourceNotFoundError)
    const { participants } = await alice.listParticipants({ conversationId: conversation.id })
    assert.deepEqual(participants.map((p) => p.id), [alice.user.id])
  })

  await check('events: createEvent reaches the bot as chat:custom, whose chat:sendEvent comes back with isBot: true', async () => {
    const sent = { kind: 'ping', run, nested: { n: 1 } }
    event = (await alice.createEvent({ conversationId: conversation.id, payload: sent })).event
    assert.deepEqual(event.payload, sent)
    assert.equal(event.conversationId, conversation.id)
    assert.equal(event.userId, alice.user.id)
    const own = await signals.next('event_created', (e) => !e.isBot, 'the user\'s own event')
    assert.deepEqual(own.payload, sent)
    const back = await signals.next('event_created', (e) => e.isBot, 'the bot\'s chat:sendEvent')
    assert.equal(back.conversationId, conversation.id)
    // The bot sent back the payload of the chat:custom event it was given.
    assert.deepEqual(back.payload.received.payload, sent)
    assert.equal((await alice.getEvent({ id: event.id })).event.id, event.id)
    assert.deepEqual((await alice.getEvent({ id: event.id })).event.payload, sent)
    result.eventPayload = sent
  })

  await check('errors: a bad key is UnauthorizedError', async () => {
    const anonymous = new Client({ apiUrl })
    await rejectsWith(anonymous.getUser({ 'x-user-key': 'not-a-key' }), UnauthorizedError, 'Invalid user key')
    await rejectsWith(Client.connect({ apiUrl, userKey: signKey('not-the-secret', { id: alice.user.id }) }), UnauthorizedError)
    await rejectsWith(
      anonymous.getConversation({ 'x-user-key': `${alice.user.key}x`, id: conversation.id }),
      UnauthorizedError,
    )
  })

  await check('errors: another user\'s conversation is ForbiddenError', async () => {
    await rejectsWith(bob.getConversation({ id: conversation.id }), ForbiddenError)
    await rejectsWith(bob.listMessages({ conversationId: conversation.id }), ForbiddenError)
    await rejectsWith(bob.createMessage({ conversationId: conversation.id, payload: { type: 'text', text: 'x' } }), ForbiddenError)
    await rejectsWith(bob.getMessage({ id: hi.id }), ForbiddenError)
    await rejectsWith(bob.deleteConversation({ id: conversation.id }), ForbiddenError)
    let refused
    try {
      await bob.listenConversation({ id: conversation.id })
    } catch (error) {
      refused = error
    }
    assert.equal(refused?.status, 403, `listen: ${JSON.stringify(refused)}`)
  })

  await check('errors: an unknown id is ResourceNotFoundError', async () => {
    await rejectsWith(alice.getMessage({ id: `no-such-message-${run}` }), ResourceNotFoundError)
    await rejectsWith(alice.getConversation({ id: `no-such-conversation-${run}` }), ResourceNotFoundError)
    await rejectsWith(alice.getEvent({ id: `no-such-event-${run}` }), ResourceNotFoundError)
  })

  await check('messages: deleting one signals message_deleted; only its sender may', async () => {
    await rejectsWith(alice.deleteMessage({ id: echo.id }), ForbiddenError)
    await alice.deleteMessage({ id: hi.id })
    const deleted = await signals.next('message_deleted', (d) => d.id === hi.id)
    assert.equal(deleted.conversationId, conversation.id)
    await rejectsWith(alice.getMessage({ id: hi.id }), ResourceNotFoundError)
  })

  await check('fids: a user id of the client\'s choosing', async () => {
    const chosen = `team/ada-${run}`
    const ada = await connect(apiUrl, chosen)
    assert.equal(ada.user.id, chosen)
    assert.equal((await ada.getUser({})).user.id, chosen)
    if (mode === 'shared') {
      await rejectsWith(Client.connect({ apiUrl, userId: chosen }), AlreadyExistsError)
    }
    result.chosenUser = chosen
  })

  await check('fids: a conversation id of the client\'s choosing, with "/" in it', async () => {
    const chosen = `room/${run}/general`
    const created = (await alice.createConversation({ id: chosen })).conversation
    assert.equal(created.id, chosen)
    assert.equal((await alice.getConversation({ id: chosen })).conversation.id, chosen)
    assert.equal((await alice.getOrCreateConversation({ id: chosen })).conversation.id, chosen)
    await rejectsWith(alice.createConversation({ id: chosen }), AlreadyExistsError)
    await rejectsWith(bob.getOrCreateConversation({ id: chosen }), ForbiddenError)
    const message = (await alice.createMessage({ conversationId: chosen, payload: { type: 'text', text: 'hi there' } })).message
    assert.equal(message.conversationId, chosen)
    const { messages } = await alice.listMessages({ conversationId: chosen })
    assert.ok(messages.some((m) => m.id === message.id))
    assert.ok(messages.every((m) => m.conversationId === chosen), JSON.stringify(messages))
    result.chosenConversation = chosen
  })

  await check('fids: 70 characters are accepted, 71 are InvalidPayloadError', async () => {
    const id70 = `c${run}`.padEnd(70, 'x')
    assert.equal((await alice.createConversation({ id: id70 })).conversation.id, id70)
    await rejectsWith(alice.createConversation({ id: `${id70}y` }), InvalidPayloadError)
    await rejectsWith(alice.createConversation({ id: `bad id ${run}` }), InvalidPayloadError)
    await rejectsWith(connect(apiUrl, `u${run}`.padEnd(71, 'x')), InvalidPayloadError)
  })

  await check('conversations: only the owner deletes one; deleting ends it', async () => {
    const spare = (await alice.createConversation({})).conversation
    await alice.addParticipant({ conversationId: spare.id, userId: bob.user.id })
    await rejectsWith(bob.deleteConversation({ id: spare.id }), ForbiddenError)
    await alice.deleteConversation({ id: spare.id })
    await rejectsWith(alice.getConversation({ id: spare.id }), ResourceNotFoundError)
  })

  await check('users: deleting me makes my key unknown', async () => {
    await bob.deleteUser({})
    let refused
    try {
      await bob.getUser({})
    } catch (error) {
      refused = error
    }
    assert.ok(refused instanceof ResourceNotFoundError || refused instanceof UnauthorizedError, String(refused))
  })

  await check('the owner\'s stream stayed open throughout', async () => {
    assert.deepEqual(signals.errors, [])
    assert.equal(signals.listener.status, 'connected')
    await signals.listener.disconnect()
  })
}

/** Listening to a conversation whose id, chosen by the client, has a "/" in it. The client's
 * listen call puts the id in the path as it is (its other calls percent-encode it). */
async function listenToChosenId() {
  let alice, chosen, live
  await check('a conversation of the client\'s choosing', async () => {
    alice = await connect(apiUrl)
    chosen = `room/${run}/live`
    assert.equal((await alice.createConversation({ id: chosen })).conversation.id, chosen)
  }, { needed: true })
  await check('listening to it', async () => {
    const listening = await Client.connect({ apiUrl: listenUrl, userKey: alice.user.key })
    live = new Signals(await listening.listenConversation({ id: chosen }))
  }, { needed: true })
  await check('the bot\'s reply arrives on it', async () => {
    await alice.createMessage({ conversationId: chosen, payload: { type: 'text', text: 'live' } })
    const reply = await live.next('message_created', (m) => m.isBot, 'the bot\'s reply')
    assert.deepEqual(reply.payload, { type: 'text', text: 'echo: live' })
    assert.equal(reply.conversationId, chosen)
    await live.listener.disconnect()
  })
}

try {
  await (process.env.CHAT_SCENARIO === 'listen-chosen-id' ? listenToChosenId() : main())
} catch (error) {
  if (!(error instanceof Stop)) {
    failed.push(`unexpected: ${error?.stack ?? error}`)
    console.log(`FAIL ${error?.stack ?? error}`)
  }
}
console.log(failed.length === 0 ? 'all checks passed' : `${failed.length} failed: ${failed.join('; ')}`)
console.log(`RESULT ${JSON.stringify(result)}`)
process.exit(failed.length === 0 ? 0 : 1)
