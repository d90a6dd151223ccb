// Drives a running Parley server with the official @botpress/client (pinned in package.json)
// and checks what a client user would notice: shapes, tag namespacing, get-or-create,
// pagination and the typed errors the client raises.
//
//   PARLEY_URL=http://127.0.0.1:8000 PARLEY_ADMIN_TOKEN=... node scenario.mjs
//
// Exits 1 on the first failed check (set PARLEY_COMPAT_KEEP_GOING=1 to run every check and
// list every failure; later checks may then fail only because an earlier one did).

import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'

import {
  Client,
  InvalidDataFormatError,
  InvalidPayloadError,
  RelationConflictError,
  ResourceNotFoundError,
  UnauthorizedError,
  isApiError,
} from '@botpress/client'

const CLIENT_VERSION = '1.45.0'
const apiUrl = process.env.PARLEY_URL
const adminToken = process.env.PARLEY_ADMIN_TOKEN
const keepGoing = process.env.PARLEY_COMPAT_KEEP_GOING === '1'

if (!apiUrl || !adminToken) {
  console.error('Set PARLEY_URL (e.g. http://127.0.0.1:8000) and PARLEY_ADMIN_TOKEN.')
  process.exit(2)
}

// ---------------------------------------------------------------------------------------------
// Check runner

let passed = 0
const failures = []

function describe(error) {
  if (isApiError(error)) {
    return `unexpected API error [${error.type}] ${error.message} (code ${error.code}, id ${error.id})`
  }
  if (error instanceof assert.AssertionError) {
    return error.message
  }
  return error && error.stack ? error.stack : String(error)
}

function summary() {
  const total = passed + failures.length
  console.log(`\n${passed}/${total} checks passed against ${apiUrl} with @botpress/client ${CLIENT_VERSION}`)
  if (failures.length > 0) {
    console.log(`${failures.length} failed: ${failures.join('; ')}`)
  }
}

async function check(name, fn) {
  try {
    await fn()
    passed += 1
    console.log(`ok   ${name}`)
  } catch (error) {
    failures.push(name)
    console.log(`FAIL ${name}\n     ${describe(error).split('\n').join('\n     ')}`)
    if (!keepGoing) {
      summary()
      process.exit(1)
    }
  }
}

/** Awaits `promise`, which must reject with the client's typed error for `type` (or one of `types`). */
async function rejects(promise, { type, errorClass, types, messageIncludes }) {
  let thrown
  try {
    const value = await promise
    assert.fail(`expected the call to fail with ${type ?? types.join(' or ')}, but it returned ${JSON.stringify(value)}`)
  } catch (error) {
    if (error instanceof assert.AssertionError) throw error
    thrown = error
  }
  assert.ok(isApiError(thrown), `expected an API error from the client, got: ${describe(thrown)}`)
  if (type !== undefined) {
    assert.equal(thrown.type, type, `error type (message: ${thrown.message})`)
  } else {
    assert.ok(types.includes(thrown.type), `error type ${thrown.type} is not one of ${types} (${thrown.message})`)
  }
  if (errorClass !== undefined) {
    assert.ok(thrown instanceof errorClass, `the error is not an instance of ${errorClass.name}`)
  }
  assert.match(String(thrown.id), /^err_/, 'the error keeps the id the server sent')
  if (messageIncludes !== undefined) {
    assert.ok(
      thrown.message.includes(messageIncludes),
      `error message ${JSON.stringify(thrown.message)} does not contain ${JSON.stringify(messageIncludes)}`
    )
  }
  return thrown
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/

function assertResource(resource, what) {
  assert.equal(typeof resource, 'object', `${what} is an object`)
  assert.equal(typeof resource.id, 'string', `${what}.id is a string`)
  assert.ok(resource.id.length >= 28 && resource.id.length <= 36, `${what}.id ${resource.id} is 28-36 chars long`)
  assert.match(resource.createdAt, ISO, `${what}.createdAt is ISO 8601`)
  assert.match(resource.updatedAt, ISO, `${what}.updatedAt is ISO 8601`)
}

const ids = (items) => items.map((item) => item.id)

// ---------------------------------------------------------------------------------------------
// Fixtures of this run

const suffix = randomBytes(4).toString('hex')
const alias = 'support' // deliberately not the integration's name: tags are prefixed by alias
const integrationName = `compat-chat-${suffix}`
const unknownUserId = 'user_01J00000000000000000000000'
const textSchema = {
  type: 'object',
  properties: { text: { type: 'string', minLength: 1 } },
  required: ['text'],
  additionalProperties: false,
}

const admin = new Client({ apiUrl, token: adminToken, workspaceId: 'wkspace_parley_compat' })
let botId
let integrationId
let bot // Client acting as the bot (bot API key)
let integ // Client acting as the integration inside the bot (integration API key)

// ---------------------------------------------------------------------------------------------
// 0. The client under test

await check('the installed @botpress/client is the pinned version', async () => {
  const require = createRequire(import.meta.url)
  assert.equal(require('@botpress/client/package.json').version, CLIENT_VERSION)
  assert.equal(typeof isApiError, 'function')
  assert.equal(typeof ResourceNotFoundError, 'function')
})

// ---------------------------------------------------------------------------------------------
// 1. Admin set-up, through the same Client class

let botKey
let integrationKey

await check('admin createBot declares user, conversation and message tags', async () => {
  const { bot: created } = await admin.createBot({
    name: `compat bot ${suffix}`,
    user: { tags: { email: {}, crmId: { title: 'CRM id' } } },
    conversation: { tags: { topic: {}, priority: {} } },
    message: { tags: { externalId: {}, kind: {} } },
  })
  assertResource(created, 'bot')
  assert.equal(created.name, `compat bot ${suffix}`)
  assert.deepEqual(Object.keys(created.user.tags).sort(), ['crmId', 'email'])
  assert.equal(created.user.tags.crmId.title, 'CRM id')
  assert.deepEqual(Object.keys(created.conversation.tags).sort(), ['priority', 'topic'])
  assert.deepEqual(Object.keys(created.message.tags).sort(), ['externalId', 'kind'])
  botId = created.id
})

await check('admin createBotApiKey returns the key value once', async () => {
  const key = await admin.createBotApiKey({ botId, note: 'compat' })
  assert.equal(typeof key.id, 'string')
  assert.equal(key.note, 'compat')
  assert.match(key.createdAt, ISO)
  assert.equal(typeof key.value, 'string')
  assert.ok(key.value.length > 0)
  botKey = key.value
  bot = new Client({ apiUrl, token: botKey, botId })
})

await check('admin createIntegration with a text channel and tags', async () => {
  const { integration } = await admin.createIntegration({
    name: integrationName,
    version: '1.0.0',
    title: 'Compat chat',
    channels: {
      channel: {
        messages: { text: { schema: textSchema } },
        conversation: { tags: { id: {}, thread: {} } },
        message: { tags: { id: {}, threadTs: {} } },
      },
    },
    user: { tags: { id: {}, handle: {} } },
  })
  assertResource(integration, 'integration')
  assert.equal(integration.name, integrationName)
  assert.equal(integration.version, '1.0.0')
  assert.deepEqual(Object.keys(integration.channels), ['channel'])
  assert.deepEqual(Object.keys(integration.channels.channel.messages), ['text'])
  assert.deepEqual(Object.keys(integration.user.tags).sort(), ['handle', 'id'])
  integrationId = integration.id
})

await check('admin updateBot installs the integration under an alias', async () => {
  const { bot: updated } = await admin.updateBot({
    id: botId,
    integrations: { [alias]: { enabled: true, integrationId, configuration: {} } },
  })
  // Without `x-multiple-integrations: true` the installed integrations are keyed by id.
  const installed = updated.integrations[integrationId]
  assert.ok(installed, `bot.integrations has ${integrationId}: ${JSON.stringify(updated.integrations)}`)
  assert.equal(installed.enabled, true)
  assert.equal(installed.name, integrationName)
})

await check('admin getBot with x-multiple-integrations keys installations by alias', async () => {
  const byAlias = new Client({
    apiUrl,
    token: adminToken,
    workspaceId: 'wkspace_parley_compat',
    headers: { 'x-multiple-integrations': 'true' },
  })
  const { bot: found } = await byAlias.getBot({ id: botId })
  assert.ok(found.integrations[alias], `bot.integrations has ${alias}: ${JSON.stringify(found.integrations)}`)
  assert.equal(found.integrations[alias].id, integrationId)
  assert.equal(found.integrations[alias].enabled, true)
})

await check('admin createIntegrationApiKey returns the key value once', async () => {
  const key = await admin.createIntegrationApiKey({ integrationId })
  assert.equal(typeof key.id, 'string')
  assert.equal(typeof key.value, 'string')
  assert.ok(key.value.length > 0)
  integrationKey = key.value
  integ = new Client({ apiUrl, token: integrationKey, botId, integrationId, integrationAlias: alias })
})

await check('a wrong token is rejected with UnauthorizedError', async () => {
  const stranger = new Client({ apiUrl, token: 'bp_bak_this-is-not-a-key', botId })
  await rejects(stranger.listUsers({}), { type: 'Unauthorized', errorClass: UnauthorizedError })
})

await check('API keys are refused outside their own bot and installation', async () => {
  const { bot: otherBot } = await admin.createBot({ name: `compat other bot ${suffix}` })
  const refused = { types: ['Forbidden', 'Unauthorized'] }
  // A bot API key works for its own bot only.
  await rejects(new Client({ apiUrl, token: botKey, botId: otherBot.id }).listUsers({}), refused)
  // An integration API key works only in bots where the integration is installed.
  const elsewhere = new Client({ apiUrl, token: integrationKey, botId: otherBot.id, integrationId, integrationAlias: alias })
  await rejects(elsewhere.listUsers({}), refused)
  // A bot API key cannot act as the integration.
  await rejects(new Client({ apiUrl, token: botKey, botId, integrationId, integrationAlias: alias }).listUsers({}), refused)
})

// ---------------------------------------------------------------------------------------------
// 2. Users

let ann // created by the integration
let bob // created by the bot
let carl // created by the integration through getOrCreateUser

await check('integration createUser: its tags come back bare', async () => {
  const { user } = await integ.createUser({
    tags: { id: 'u-ann', handle: 'ann' },
    name: 'Ann',
    pictureUrl: 'https://example.com/ann.png',
  })
  assertResource(user, 'user')
  assert.deepEqual(user.tags, { id: 'u-ann', handle: 'ann' })
  assert.equal(user.name, 'Ann')
  assert.equal(user.pictureUrl, 'https://example.com/ann.png')
  ann = user.id
})

await check('getUser: the bot sees integration tags as <alias>:<tag>, the integration bare', async () => {
  const { user: asBot } = await bot.getUser({ id: ann })
  assert.deepEqual(asBot.tags, { [`${alias}:id`]: 'u-ann', [`${alias}:handle`]: 'ann' })
  assert.equal(asBot.name, 'Ann')
  const { user: asIntegration } = await integ.getUser({ id: ann })
  assert.deepEqual(asIntegration.tags, { id: 'u-ann', handle: 'ann' })
})

await check('bot createUser with its own declared tags', async () => {
  const { user } = await bot.createUser({ tags: { email: 'bob@example.com', crmId: 'crm-1' }, name: 'Bob' })
  assertResource(user, 'user')
  assert.deepEqual(user.tags, { email: 'bob@example.com', crmId: 'crm-1' })
  assert.equal(user.name, 'Bob')
  bob = user.id
})

await check("listUsers filters by tags in the caller's namespace", async () => {
  const byBot = await bot.listUsers({ tags: { [`${alias}:id`]: 'u-ann' } })
  assert.deepEqual(ids(byBot.users), [ann])
  assert.deepEqual(byBot.users[0].tags, { [`${alias}:id`]: 'u-ann', [`${alias}:handle`]: 'ann' })
  const byBotOwnTag = await bot.listUsers({ tags: { email: 'bob@example.com' } })
  assert.deepEqual(ids(byBotOwnTag.users), [bob])
  const byIntegration = await integ.listUsers({ tags: { id: 'u-ann' } })
  assert.deepEqual(ids(byIntegration.users), [ann])
  assert.deepEqual(byIntegration.users[0].tags, { id: 'u-ann', handle: 'ann' })
  const none = await bot.listUsers({ tags: { email: 'nobody@example.com' } })
  assert.deepEqual(none.users, [])
})

await check("client.list.users().collect() returns the bot's users", async () => {
  const all = await bot.list.users({}).collect()
  const found = ids(all)
  assert.ok(found.includes(ann) && found.includes(bob), `list.users has Ann and Bob: ${found}`)
  assert.equal(new Set(found).size, found.length, 'no user is listed twice')
})

await check('getOrCreateUser creates once, then finds (meta.created)', async () => {
  const first = await integ.getOrCreateUser({ tags: { id: 'u-carl', handle: 'carl' }, name: 'Carl' })
  assert.equal(first.meta.created, true)
  assertResource(first.user, 'user')
  assert.deepEqual(first.user.tags, { id: 'u-carl', handle: 'carl' })
  assert.equal(first.user.name, 'Carl')
  const second = await integ.getOrCreateUser({ tags: { id: 'u-carl', handle: 'carl' }, name: 'Carl' })
  assert.equal(second.meta.created, false)
  assert.equal(second.user.id, first.user.id)
  carl = first.user.id
})

await check('getOrCreateUser with discriminateByTags finds by id and writes the other tags', async () => {
  const found = await integ.getOrCreateUser({ tags: { id: 'u-ann', handle: 'annie' }, discriminateByTags: ['id'] })
  assert.equal(found.meta.created, false)
  assert.equal(found.user.id, ann)
  assert.deepEqual(found.user.tags, { id: 'u-ann', handle: 'annie' })
  const { user } = await bot.getUser({ id: ann })
  assert.deepEqual(user.tags, { [`${alias}:id`]: 'u-ann', [`${alias}:handle`]: 'annie' })
})

await check('updateUser: name, per-key tags, "" and null remove a tag, null clears pictureUrl', async () => {
  const renamed = await integ.updateUser({ id: ann, name: 'Ann B.', tags: { handle: '' } })
  assert.equal(renamed.user.name, 'Ann B.')
  assert.deepEqual(renamed.user.tags, { id: 'u-ann' })
  const tagged = await integ.updateUser({ id: ann, tags: { handle: 'ab' } })
  assert.deepEqual(tagged.user.tags, { id: 'u-ann', handle: 'ab' })
  assert.equal(tagged.user.name, 'Ann B.', 'a tags-only update keeps the name')
  const cleared = await integ.updateUser({ id: ann, tags: { handle: null }, pictureUrl: null })
  assert.deepEqual(cleared.user.tags, { id: 'u-ann' })
  assert.equal(cleared.user.pictureUrl, undefined)
  const { user } = await bot.getUser({ id: ann })
  assert.deepEqual(user.tags, { [`${alias}:id`]: 'u-ann' })
  assert.equal(user.name, 'Ann B.')
  assert.equal(user.pictureUrl, undefined)
  const bobs = await bot.updateUser({ id: bob, tags: { crmId: 'crm-2' } })
  assert.deepEqual(bobs.user.tags, { email: 'bob@example.com', crmId: 'crm-2' }, 'other tags are kept')
})

await check('deleteUser, then getUser rejects with ResourceNotFoundError', async () => {
  assert.deepEqual(await integ.deleteUser({ id: carl }), {})
  await rejects(bot.getUser({ id: carl }), { type: 'ResourceNotFound', errorClass: ResourceNotFoundError })
})

await check('getUser of an unknown id rejects with ResourceNotFoundError', async () => {
  const error = await rejects(bot.getUser({ id: unknownUserId }), {
    type: 'ResourceNotFound',
    errorClass: ResourceNotFoundError,
  })
  assert.equal(error.code, 404)
})

await check('an undeclared user tag rejects with InvalidPayloadError', async () => {
  await rejects(bot.createUser({ tags: { nickname: 'x' } }), { type: 'InvalidPayload', errorClass: InvalidPayloadError })
  // The bot's tags are not the integration's: `email` is undeclared for it.
  await rejects(integ.createUser({ tags: { email: 'x@example.com' } }), {
    type: 'InvalidPayload',
    errorClass: InvalidPayloadError,
  })
  await rejects(bot.updateUser({ id: bob, tags: { nickname: 'x' } }), {
    type: 'InvalidPayload',
    errorClass: InvalidPayloadError,
  })
  const { user } = await bot.getUser({ id: bob })
  assert.deepEqual(user.tags, { email: 'bob@example.com', crmId: 'crm-2' }, 'the rejected update changed nothing')
})

await check('tag values: up to 500 characters, any characters, found again through list filters', async () => {
  await rejects(bot.createUser({ tags: { email: 'x'.repeat(501) } }), {
    type: 'InvalidPayload',
    errorClass: InvalidPayloadError,
  })
  const long = 'y'.repeat(500)
  const { user: longUser } = await bot.createUser({ tags: { email: long } })
  assert.equal(longUser.tags.email, long)
  // The client sends list filters as `tags.<key>=<value>` query parameters, percent-encoded.
  const odd = 'a b&c=d/é?#+%🚀'
  const { user } = await integ.createUser({ tags: { id: odd, handle: 'odd' } })
  assert.deepEqual(user.tags, { id: odd, handle: 'odd' })
  const asIntegration = await integ.listUsers({ tags: { id: odd } })
  assert.deepEqual(ids(asIntegration.users), [user.id])
  const asBot = await bot.listUsers({ tags: { [`${alias}:id`]: odd } })
  assert.deepEqual(ids(asBot.users), [user.id])
  assert.deepEqual(asBot.users[0].tags, { [`${alias}:id`]: odd, [`${alias}:handle`]: 'odd' })
  assert.deepEqual((await bot.listUsers({ tags: { email: long } })).users.map((u) => u.id), [longUser.id])
})

// ---------------------------------------------------------------------------------------------
// 3. Conversations

let conv1

await check('integration createConversation on its channel: tags bare, integration name set', async () => {
  const { conversation } = await integ.createConversation({ channel: 'channel', tags: { id: 'c-1', thread: 't-1' } })
  assertResource(conversation, 'conversation')
  assert.equal(conversation.channel, 'channel')
  assert.equal(conversation.integration, integrationName)
  assert.deepEqual(conversation.tags, { id: 'c-1', thread: 't-1' })
  conv1 = conversation.id
})

await check('getConversation: the bot sees <alias>:<tag>, the integration bare', async () => {
  const { conversation: asBot } = await bot.getConversation({ id: conv1 })
  assert.deepEqual(asBot.tags, { [`${alias}:id`]: 'c-1', [`${alias}:thread`]: 't-1' })
  assert.equal(asBot.channel, 'channel')
  assert.equal(asBot.integration, integrationName)
  const { conversation: asIntegration } = await integ.getConversation({ id: conv1 })
  assert.deepEqual(asIntegration.tags, { id: 'c-1', thread: 't-1' })
})

await check('updateConversation merges tags per key; "" removes one', async () => {
  const byBot = await bot.updateConversation({ id: conv1, tags: { topic: 'billing' } })
  assert.deepEqual(byBot.conversation.tags, {
    [`${alias}:id`]: 'c-1',
    [`${alias}:thread`]: 't-1',
    topic: 'billing',
  })
  const byIntegration = await integ.updateConversation({ id: conv1, tags: { thread: '' } })
  assert.equal(byIntegration.conversation.tags.id, 'c-1')
  assert.equal(byIntegration.conversation.tags.thread, undefined)
  assert.equal(byIntegration.conversation.tags[`${alias}:id`], undefined, 'the integration never sees its prefix')
  const { conversation } = await bot.getConversation({ id: conv1 })
  assert.deepEqual(conversation.tags, { [`${alias}:id`]: 'c-1', topic: 'billing' })
})

await check("listConversations filters by tags in the caller's namespace", async () => {
  const byBot = await bot.listConversations({ tags: { [`${alias}:id`]: 'c-1' } })
  assert.deepEqual(ids(byBot.conversations), [conv1])
  const byBotTag = await bot.listConversations({ tags: { topic: 'billing' } })
  assert.deepEqual(ids(byBotTag.conversations), [conv1])
  const byIntegration = await integ.listConversations({ tags: { id: 'c-1' } })
  assert.deepEqual(ids(byIntegration.conversations), [conv1])
  assert.equal(byIntegration.conversations[0].tags.id, 'c-1')
  const byChannel = await integ.listConversations({ channel: 'channel', tags: { id: 'c-1' } })
  assert.deepEqual(ids(byChannel.conversations), [conv1])
  const otherChannel = await bot.listConversations({ channel: 'elsewhere', tags: { [`${alias}:id`]: 'c-1' } })
  assert.deepEqual(otherChannel.conversations, [])
  const all = await bot.list.conversations({}).collect()
  assert.ok(ids(all).includes(conv1))
})

await check('getOrCreateConversation creates once, then finds (meta.created, discriminateByTags)', async () => {
  const found = await integ.getOrCreateConversation({
    channel: 'channel',
    tags: { id: 'c-1', thread: 't-9' },
    discriminateByTags: ['id'],
  })
  assert.equal(found.meta.created, false)
  assert.equal(found.conversation.id, conv1)
  assert.deepEqual(found.conversation.tags, { id: 'c-1', thread: 't-9' })
  const first = await integ.getOrCreateConversation({ channel: 'channel', tags: { id: 'c-2' } })
  assert.equal(first.meta.created, true)
  assertResource(first.conversation, 'conversation')
  assert.notEqual(first.conversation.id, conv1)
  assert.deepEqual(first.conversation.tags, { id: 'c-2' })
  const again = await integ.getOrCreateConversation({ channel: 'channel', tags: { id: 'c-2' } })
  assert.equal(again.meta.created, false)
  assert.equal(again.conversation.id, first.conversation.id)
})

await check('conversation errors: unknown id, undeclared tags', async () => {
  await rejects(bot.getConversation({ id: 'conv_01J00000000000000000000000' }), {
    type: 'ResourceNotFound',
    errorClass: ResourceNotFoundError,
  })
  await rejects(integ.createConversation({ channel: 'channel', tags: { room: 'r-1' } }), {
    type: 'InvalidPayload',
    errorClass: InvalidPayloadError,
  })
  await rejects(bot.updateConversation({ id: conv1, tags: { room: 'r-1' } }), {
    type: 'InvalidPayload',
    errorClass: InvalidPayloadError,
  })
})

await check('deleteConversation removes it and its messages', async () => {
  const { conversation } = await integ.createConversation({ channel: 'channel', tags: { id: 'c-doomed' } })
  const { message } = await integ.createMessage({
    conversationId: conversation.id,
    userId: ann,
    type: 'text',
    payload: { text: 'soon gone' },
    tags: {},
  })
  assert.deepEqual(await integ.deleteConversation({ id: conversation.id }), {})
  await rejects(bot.getConversation({ id: conversation.id }), {
    type: 'ResourceNotFound',
    errorClass: ResourceNotFoundError,
  })
  await rejects(bot.getMessage({ id: message.id }), { type: 'ResourceNotFound', errorClass: ResourceNotFoundError })
})

// ---------------------------------------------------------------------------------------------
// 4. Participants

await check('addParticipant / getParticipant / listParticipants / removeParticipant', async () => {
  const { conversation } = await integ.createConversation({ channel: 'channel', tags: { id: 'c-people' } })
  const added = await integ.addParticipant({ id: conversation.id, userId: ann })
  assert.equal(added.participant.id, ann)
  assert.deepEqual(added.participant.tags, { id: 'u-ann' })
  const { participant } = await bot.getParticipant({ id: conversation.id, userId: ann })
  assert.equal(participant.id, ann)
  assert.deepEqual(participant.tags, { [`${alias}:id`]: 'u-ann' })
  const listed = await integ.listParticipants({ id: conversation.id })
  assert.deepEqual(ids(listed.participants), [ann])
  const collected = await bot.list.participants({ id: conversation.id }).collect()
  assert.deepEqual(ids(collected), [ann])
  const users = await bot.listUsers({ conversationId: conversation.id })
  assert.deepEqual(ids(users.users), [ann], 'listUsers({conversationId}) lists its participants')
  const conversations = await bot.listConversations({ participantIds: [ann], tags: { [`${alias}:id`]: 'c-people' } })
  assert.deepEqual(ids(conversations.conversations), [conversation.id])
  assert.deepEqual(await integ.removeParticipant({ id: conversation.id, userId: ann }), {})
  await rejects(bot.getParticipant({ id: conversation.id, userId: ann }), {
    types: ['ResourceNotFound', 'InvalidPayload', 'ReferenceNotFound'],
  })
  const after = await bot.listParticipants({ id: conversation.id })
  assert.deepEqual(after.participants, [])
})

// ---------------------------------------------------------------------------------------------
// 5. Messages

let chat // a conversation for the message checks
let incoming
let outgoing

await check('integration createMessage is incoming, with bare tags', async () => {
  chat = (await integ.createConversation({ channel: 'channel', tags: { id: 'c-chat' } })).conversation.id
  const { message } = await integ.createMessage({
    conversationId: chat,
    userId: ann,
    type: 'text',
    payload: { text: 'hello' },
    tags: { id: 'm-1' },
  })
  assertResource(message, 'message')
  assert.equal(message.direction, 'incoming')
  assert.equal(message.type, 'text')
  assert.deepEqual(message.payload, { text: 'hello' })
  assert.equal(message.userId, ann)
  assert.equal(message.conversationId, chat)
  assert.deepEqual(message.tags, { id: 'm-1' })
  incoming = message.id
})

await check('bot createMessage as itself is outgoing, with its own tags', async () => {
  const { message } = await bot.createMessage({
    conversationId: chat,
    userId: botId,
    type: 'text',
    payload: { text: 'hi Ann' },
    tags: { externalId: 'b-1' },
  })
  assertResource(message, 'message')
  assert.equal(message.direction, 'outgoing')
  assert.equal(message.userId, botId)
  assert.deepEqual(message.payload, { text: 'hi Ann' })
  assert.deepEqual(message.tags, { externalId: 'b-1' })
  outgoing = message.id
})

await check('getMessage: the bot sees <alias>:<tag>, the integration bare', async () => {
  const { message: asBot } = await bot.getMessage({ id: incoming })
  assert.deepEqual(asBot.tags, { [`${alias}:id`]: 'm-1' })
  assert.equal(asBot.direction, 'incoming')
  assert.deepEqual(asBot.payload, { text: 'hello' })
  const { message: asIntegration } = await integ.getMessage({ id: incoming })
  assert.deepEqual(asIntegration.tags, { id: 'm-1' })
})

await check('updateMessage: tags per key, payload replaced, "" removes a tag', async () => {
  const tagged = await integ.updateMessage({ id: incoming, tags: { threadTs: '171' } })
  assert.deepEqual(tagged.message.tags, { id: 'm-1', threadTs: '171' })
  assert.deepEqual(tagged.message.payload, { text: 'hello' }, 'a tags-only update keeps the payload')
  const edited = await integ.updateMessage({ id: incoming, tags: {}, payload: { text: 'hello, edited' } })
  assert.deepEqual(edited.message.payload, { text: 'hello, edited' })
  assert.equal(edited.message.type, 'text')
  assert.deepEqual(edited.message.tags, { id: 'm-1', threadTs: '171' })
  const byBot = await bot.updateMessage({ id: incoming, tags: { kind: 'question' } })
  assert.deepEqual(byBot.message.tags, { [`${alias}:id`]: 'm-1', [`${alias}:threadTs`]: '171', kind: 'question' })
  const removed = await integ.updateMessage({ id: incoming, tags: { threadTs: '' } })
  assert.equal(removed.message.tags.id, 'm-1')
  assert.equal(removed.message.tags.threadTs, undefined)
  const { message } = await bot.getMessage({ id: incoming })
  assert.deepEqual(message.tags, { [`${alias}:id`]: 'm-1', kind: 'question' })
  assert.deepEqual(message.payload, { text: 'hello, edited' })
})

await check('listMessages: newest first, filtered by conversation and tags', async () => {
  const { messages } = await bot.listMessages({ conversationId: chat })
  assert.deepEqual(ids(messages), [outgoing, incoming])
  const byIntegrationTag = await bot.listMessages({ conversationId: chat, tags: { [`${alias}:id`]: 'm-1' } })
  assert.deepEqual(ids(byIntegrationTag.messages), [incoming])
  const byBotTag = await bot.listMessages({ tags: { externalId: 'b-1' } })
  assert.deepEqual(ids(byBotTag.messages), [outgoing])
  const asIntegration = await integ.listMessages({ conversationId: chat, tags: { id: 'm-1' } })
  assert.deepEqual(ids(asIntegration.messages), [incoming])
  assert.equal(asIntegration.messages[0].tags.id, 'm-1')
})

await check('message errors: invalid payload, undeclared type and tags, unknown id', async () => {
  const base = { conversationId: chat, userId: ann, type: 'text', tags: {} }
  await rejects(integ.createMessage({ ...base, payload: {} }), { types: ['InvalidPayload', 'InvalidDataFormat'] })
  await rejects(integ.createMessage({ ...base, payload: { text: 'x', extra: true } }), {
    types: ['InvalidPayload', 'InvalidDataFormat'],
  })
  await rejects(integ.createMessage({ ...base, type: 'carousel', payload: { items: [] } }), {
    types: ['InvalidPayload', 'InvalidDataFormat'],
  })
  await rejects(bot.createMessage({ ...base, userId: botId, payload: { text: 'x' }, tags: { nope: 'x' } }), {
    type: 'InvalidPayload',
    errorClass: InvalidPayloadError,
  })
  await rejects(integ.createMessage({ ...base, payload: { text: 'x' }, tags: { externalId: 'x' } }), {
    type: 'InvalidPayload',
    errorClass: InvalidPayloadError,
  })
  await rejects(bot.getMessage({ id: 'msg_01J00000000000000000000000' }), {
    type: 'ResourceNotFound',
    errorClass: ResourceNotFoundError,
  })
  const { messages } = await bot.listMessages({ conversationId: chat })
  assert.deepEqual(ids(messages), [outgoing, incoming], 'no rejected message was stored')
})

await check('a schema violation is a typed client error', async () => {
  const error = await rejects(
    integ.createMessage({ conversationId: chat, userId: ann, type: 'text', payload: { text: '' }, tags: {} }),
    { types: ['InvalidPayload', 'InvalidDataFormat'] }
  )
  assert.ok(
    error instanceof InvalidPayloadError || error instanceof InvalidDataFormatError,
    'an empty text rejects with InvalidPayloadError or InvalidDataFormatError'
  )
})

await check('deleteMessage, then getMessage rejects with ResourceNotFoundError', async () => {
  assert.deepEqual(await bot.deleteMessage({ id: outgoing }), {})
  await rejects(integ.getMessage({ id: outgoing }), { type: 'ResourceNotFound', errorClass: ResourceNotFoundError })
  const { messages } = await bot.listMessages({ conversationId: chat })
  assert.deepEqual(ids(messages), [incoming])
})

// ---------------------------------------------------------------------------------------------
// 6. getOrCreateMessage

let other // a second conversation
let g1

await check('getOrCreateMessage with discriminateByTags: created, then found with the other tags written', async () => {
  other = (await integ.createConversation({ channel: 'channel', tags: { id: 'c-other' } })).conversation.id
  const input = {
    conversationId: chat,
    userId: ann,
    type: 'text',
    payload: { text: 'first' },
    tags: { id: 'g-1' },
    discriminateByTags: ['id'],
  }
  const first = await integ.getOrCreateMessage(input)
  assert.equal(first.meta.created, true)
  assertResource(first.message, 'message')
  assert.equal(first.message.direction, 'incoming')
  assert.deepEqual(first.message.tags, { id: 'g-1' })
  assert.deepEqual(first.message.payload, { text: 'first' })
  g1 = first.message.id
  const second = await integ.getOrCreateMessage({ ...input, tags: { id: 'g-1', threadTs: 'ts-1' } })
  assert.equal(second.meta.created, false)
  assert.equal(second.message.id, g1)
  assert.deepEqual(second.message.tags, { id: 'g-1', threadTs: 'ts-1' })
  const { message } = await bot.getMessage({ id: g1 })
  assert.deepEqual(message.tags, { [`${alias}:id`]: 'g-1', [`${alias}:threadTs`]: 'ts-1' })
})

await check('getOrCreateMessage without discriminateByTags matches on every tag', async () => {
  const input = { conversationId: chat, userId: ann, type: 'text', payload: { text: 'second' }, tags: { id: 'g-2' } }
  const first = await integ.getOrCreateMessage(input)
  assert.equal(first.meta.created, true)
  const again = await integ.getOrCreateMessage(input)
  assert.equal(again.meta.created, false)
  assert.equal(again.message.id, first.message.id)
  const { messages } = await bot.listMessages({ conversationId: chat, tags: { [`${alias}:id`]: 'g-2' } })
  assert.deepEqual(ids(messages), [first.message.id], 'only one message was stored')
})

await check('bot getOrCreateMessage: outgoing, created once', async () => {
  const input = { conversationId: chat, userId: botId, type: 'text', payload: { text: 'ok' }, tags: { externalId: 'e-1' } }
  const first = await bot.getOrCreateMessage(input)
  assert.equal(first.meta.created, true)
  assert.equal(first.message.direction, 'outgoing')
  assert.deepEqual(first.message.tags, { externalId: 'e-1' })
  const again = await bot.getOrCreateMessage(input)
  assert.equal(again.meta.created, false)
  assert.equal(again.message.id, first.message.id)
})

await check('getOrCreateMessage matching a message of another conversation rejects with RelationConflictError', async () => {
  const error = await rejects(
    integ.getOrCreateMessage({
      conversationId: other,
      userId: ann,
      type: 'text',
      payload: { text: 'first' },
      tags: { id: 'g-1' },
      discriminateByTags: ['id'],
    }),
    {
      type: 'RelationConflict',
      errorClass: RelationConflictError,
      messageIncludes: 'already exists for a different conversation',
    }
  )
  assert.equal(error.code, 409)
  const { messages } = await bot.listMessages({ conversationId: other })
  assert.deepEqual(messages, [], 'nothing was created in the other conversation')
})

await check('concurrent getOrCreateMessage calls with the same tags store one message', async () => {
  const input = {
    conversationId: chat,
    userId: ann,
    type: 'text',
    payload: { text: 'webhook retry' },
    tags: { id: 'g-retry' },
    discriminateByTags: ['id'],
  }
  const results = await Promise.all(Array.from({ length: 10 }, () => integ.getOrCreateMessage(input)))
  assert.equal(results.filter((result) => result.meta.created).length, 1, 'exactly one call created it')
  assert.equal(new Set(results.map((result) => result.message.id)).size, 1, 'every call answered the same message')
  const { messages } = await bot.listMessages({ conversationId: chat, tags: { [`${alias}:id`]: 'g-retry' } })
  assert.equal(messages.length, 1)
})

// ---------------------------------------------------------------------------------------------
// 7. Pagination over more than one page (the server's default page size is 20)

const PAGED = 45
let paged // the conversation holding PAGED messages
let pagedIds = [] // in creation order

await check(`${PAGED} messages: client.list.messages().collect() walks every page, newest first`, async () => {
  paged = (await integ.createConversation({ channel: 'channel', tags: { id: 'c-paged' } })).conversation.id
  for (let i = 0; i < PAGED; i++) {
    const { message } = await integ.createMessage({
      conversationId: paged,
      userId: ann,
      type: 'text',
      payload: { text: `message ${i}` },
      tags: { id: `p-${i}` },
    })
    pagedIds.push(message.id)
  }
  const collected = await bot.list.messages({ conversationId: paged }).collect()
  assert.equal(collected.length, PAGED)
  assert.deepEqual(ids(collected), [...pagedIds].reverse())
  assert.deepEqual(collected[0].payload, { text: `message ${PAGED - 1}` })
  assert.deepEqual(collected[0].tags, { [`${alias}:id`]: `p-${PAGED - 1}` })
})

await check('listMessages pages: 20 + 20 + 5, nextToken only while more remain', async () => {
  const page1 = await bot.listMessages({ conversationId: paged })
  assert.equal(page1.messages.length, 20)
  assert.equal(typeof page1.meta.nextToken, 'string')
  const page2 = await bot.listMessages({ conversationId: paged, nextToken: page1.meta.nextToken })
  assert.equal(page2.messages.length, 20)
  assert.equal(typeof page2.meta.nextToken, 'string')
  const page3 = await bot.listMessages({ conversationId: paged, nextToken: page2.meta.nextToken })
  assert.equal(page3.messages.length, PAGED - 40)
  assert.ok(!page3.meta.nextToken, `the last page has no nextToken: ${JSON.stringify(page3.meta)}`)
  const all = [...page1.messages, ...page2.messages, ...page3.messages]
  assert.deepEqual(ids(all), [...pagedIds].reverse())
})

await check('pageSize and collect({limit}) are honoured; the integration pages too', async () => {
  const small = await bot.list.messages({ conversationId: paged, pageSize: 7 }).collect()
  assert.deepEqual(ids(small), [...pagedIds].reverse())
  const big = await bot.listMessages({ conversationId: paged, pageSize: 50 })
  assert.equal(big.messages.length, PAGED)
  assert.ok(!big.meta.nextToken)
  const limited = await bot.list.messages({ conversationId: paged }).collect({ limit: 25 })
  assert.deepEqual(ids(limited), [...pagedIds].reverse().slice(0, 25))
  const asIntegration = await integ.list.messages({ conversationId: paged }).collect()
  assert.deepEqual(ids(asIntegration), [...pagedIds].reverse())
  assert.deepEqual(asIntegration.at(-1).tags, { id: 'p-0' })
})

await check('listMessages afterDate / beforeDate bound createdAt, inclusively', async () => {
  const all = await bot.list.messages({ conversationId: paged }).collect()
  const from = all[30].createdAt
  const to = all[10].createdAt
  const expected = ids(all.filter((message) => message.createdAt >= from && message.createdAt <= to))
  assert.ok(expected.length >= 21)
  const between = await bot.list.messages({ conversationId: paged, afterDate: from, beforeDate: to }).collect()
  assert.deepEqual(ids(between), expected)
  const after = await bot.list.messages({ conversationId: paged, afterDate: to }).collect()
  assert.deepEqual(ids(after), ids(all.filter((message) => message.createdAt >= to)))
})

await check('client.list.users().collect() walks more than one page, in either direction', async () => {
  const created = []
  for (let i = 0; i < 23; i++) {
    const { user } = await integ.createUser({ tags: { id: `u-bulk-${i}`, handle: 'bulk' } })
    created.push(user.id)
  }
  const collected = await integ.list.users({ tags: { handle: 'bulk' } }).collect()
  assert.deepEqual(ids(collected), [...created].reverse())
  assert.ok(collected.every((user) => user.tags.handle === 'bulk'))
  const oldestFirst = await integ.list.users({ tags: { handle: 'bulk' }, sortDirection: 'asc' }).collect()
  assert.deepEqual(ids(oldestFirst), created)
})

// ---------------------------------------------------------------------------------------------
// 8. Fields of the newer Runtime API that @botpress/client 1.45.0 types as present
//    (RUNTIME-SEMANTICS.md sections 8.2, 8.10 and 10)

await check('getOrCreateMessage without a payload finds the message (payload is optional)', async () => {
  const found = await integ.getOrCreateMessage({
    conversationId: chat,
    userId: ann,
    type: 'text',
    tags: { id: 'g-1' },
    discriminateByTags: ['id'],
  })
  assert.equal(found.meta.created, false)
  assert.equal(found.message.id, g1)
  assert.deepEqual(found.message.payload, { text: 'first' })
})

await check('updateMessage without tags changes only the payload (tags are optional)', async () => {
  const { message } = await integ.updateMessage({ id: g1, payload: { text: 'first' } })
  assert.deepEqual(message.tags, { id: 'g-1', threadTs: 'ts-1' })
})

await check('get-or-create tags set to null are removed from the found resource', async () => {
  const found = await integ.getOrCreateMessage({
    conversationId: chat,
    userId: ann,
    type: 'text',
    tags: { id: 'g-1', threadTs: null },
    discriminateByTags: ['id'],
  })
  assert.equal(found.meta.created, false)
  assert.deepEqual(found.message.tags, { id: 'g-1' })
  const user = await integ.getOrCreateUser({ tags: { id: 'u-ann', handle: null }, discriminateByTags: ['id'] })
  assert.equal(user.meta.created, false)
  assert.deepEqual(user.user.tags, { id: 'u-ann' })
})

summary()
process.exit(failures.length === 0 ? 0 : 1)
