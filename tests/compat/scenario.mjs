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
import { createServer } from 'node:http'
import { createRequire } from 'node:module'

import {
  Client,
  ForbiddenError,
  InvalidDataFormatError,
  InvalidPayloadError,
  ReferenceNotFoundError,
  RelationConflictError,
  ResourceNotFoundError,
  RuntimeError,
  UnauthorizedError,
  errorFrom,
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
const strictObject = (properties, required = []) => ({ type: 'object', properties, required, additionalProperties: false })
// Events and states the bot declares (an object schema each; `session` expires when idle for a minute).
const botEvents = {
  reminder: { schema: strictObject({ note: { type: 'string', minLength: 1 } }, ['note']) },
}
const SESSION_EXPIRY = 60_000
const botStates = {
  cart: { type: 'conversation', schema: strictObject({ items: { type: 'array', items: { type: 'string' } }, total: { type: 'number' } }) },
  profile: { type: 'user', schema: strictObject({ plan: { type: 'string', enum: ['free', 'pro'] }, seats: { type: 'integer', minimum: 1 } }) },
  settings: { type: 'bot', schema: strictObject({ mode: { type: 'string' } }) },
  session: { type: 'conversation', schema: strictObject({ step: { type: 'string' } }), expiry: SESSION_EXPIRY },
}
// The integration's: its `cart` is named like the bot's, with another schema.
const integrationEvents = {
  ping: { schema: strictObject({ n: { type: 'integer' } }, ['n']) },
}
const integrationStates = {
  cart: { type: 'conversation', schema: strictObject({ cursor: { type: 'string' } }, ['cursor']) },
  credentials: { type: 'integration', schema: strictObject({ token: { type: 'string' } }, ['token']) },
}
// The integration's actions (section 14 plays its server): `lookup` prices a SKU, `explode` fails.
const integrationActions = {
  lookup: {
    input: { schema: strictObject({ sku: { type: 'string', minLength: 1 } }, ['sku']) },
    output: { schema: strictObject({ sku: { type: 'string' }, price: { type: 'number' } }, ['sku', 'price']) },
  },
  explode: { input: { schema: strictObject({}) }, output: { schema: strictObject({}) } },
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

await check('admin createBot declares user, conversation and message tags, events and states', async () => {
  const { bot: created } = await admin.createBot({
    name: `compat bot ${suffix}`,
    user: { tags: { email: {}, crmId: { title: 'CRM id' } } },
    conversation: { tags: { topic: {}, priority: {} } },
    message: { tags: { externalId: {}, kind: {} } },
    events: botEvents,
    states: botStates,
  })
  assertResource(created, 'bot')
  assert.equal(created.name, `compat bot ${suffix}`)
  assert.deepEqual(Object.keys(created.user.tags).sort(), ['crmId', 'email'])
  assert.equal(created.user.tags.crmId.title, 'CRM id')
  assert.deepEqual(Object.keys(created.conversation.tags).sort(), ['priority', 'topic'])
  assert.deepEqual(Object.keys(created.message.tags).sort(), ['externalId', 'kind'])
  assert.deepEqual(Object.keys(created.events), ['reminder'])
  assert.deepEqual(Object.keys(created.states).sort(), ['cart', 'profile', 'session', 'settings'])
  assert.equal(created.states.session.type, 'conversation')
  assert.equal(created.states.session.expiry, SESSION_EXPIRY)
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

await check('admin createIntegration with a text channel, tags, events, states and actions', async () => {
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
    events: integrationEvents,
    states: integrationStates,
    actions: integrationActions,
  })
  assertResource(integration, 'integration')
  assert.equal(integration.name, integrationName)
  assert.equal(integration.version, '1.0.0')
  assert.deepEqual(Object.keys(integration.channels), ['channel'])
  assert.deepEqual(Object.keys(integration.channels.channel.messages), ['text'])
  assert.deepEqual(Object.keys(integration.user.tags).sort(), ['handle', 'id'])
  assert.deepEqual(Object.keys(integration.events), ['ping'])
  assert.deepEqual(Object.keys(integration.states).sort(), ['cart', 'credentials'])
  assert.deepEqual(Object.keys(integration.actions).sort(), ['explode', 'lookup'])
  assert.deepEqual(integration.actions.lookup.input.schema, integrationActions.lookup.input.schema)
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

// ---------------------------------------------------------------------------------------------
// 9. Events

const unknownConversationId = 'conv_01J00000000000000000000000'
const unknownMessageId = 'msg_01J00000000000000000000000'
const unknownEventId = 'evt_01J00000000000000000000000'
const EVENT_ID = /^evt_/
const HOUR = 3_600_000

let evConv // a conversation of the integration's, without messages from users: no message_created events
let botEvent // reminder created by the bot, linked to evConv, Ann and a message
let pingEvent // ping created by the integration on evConv
let scheduledEvent // scheduled with a dateTime a day ahead, left scheduled

await check('bot createEvent: {event} pending, payload echoed, linked to conversation, user and message', async () => {
  evConv = (await integ.createConversation({ channel: 'channel', tags: { id: 'c-events' } })).conversation.id
  // An outgoing message: the bot does not receive what it wrote, so no event comes with it.
  const { message } = await bot.createMessage({
    conversationId: evConv,
    userId: botId,
    type: 'text',
    payload: { text: 'reminder set' },
    tags: {},
  })
  const { event } = await bot.createEvent({
    type: 'reminder',
    payload: { note: 'call Ann back' },
    conversationId: evConv,
    userId: ann,
    messageId: message.id,
  })
  assert.match(event.id, EVENT_ID)
  assert.ok(event.id.length >= 28 && event.id.length <= 36, `event.id ${event.id} is 28-36 chars long`)
  assert.match(event.createdAt, ISO)
  assert.equal(event.type, 'reminder')
  assert.deepEqual(event.payload, { note: 'call Ann back' })
  assert.equal(event.status, 'pending')
  assert.equal(event.failureReason, null)
  assert.equal(event.conversationId, evConv)
  assert.equal(event.userId, ann)
  assert.equal(event.messageId, message.id)
  const { event: found } = await bot.getEvent({ id: event.id })
  assert.deepEqual(found, event)
  const { event: bare } = await bot.createEvent({ type: 'reminder', payload: { note: 'unlinked' } })
  assert.equal(bare.status, 'pending')
  assert.equal(bare.conversationId, undefined)
  assert.equal(bare.userId, undefined)
  assert.equal(bare.messageId, undefined)
  botEvent = event.id
})

await check('createEvent errors: undeclared type, payload against the schema, unknown links', async () => {
  const invalid = { type: 'InvalidPayload', errorClass: InvalidPayloadError }
  await rejects(bot.createEvent({ type: 'nope', payload: {}, conversationId: evConv }), invalid)
  await rejects(bot.createEvent({ type: 'ping', payload: { n: 1 }, conversationId: evConv }), invalid)
  await rejects(bot.createEvent({ type: 'reminder', payload: {}, conversationId: evConv }), invalid)
  await rejects(bot.createEvent({ type: 'reminder', payload: { note: 1 }, conversationId: evConv }), invalid)
  await rejects(bot.createEvent({ type: 'reminder', payload: { note: 'x', extra: 1 }, conversationId: evConv }), invalid)
  const missing = { type: 'ReferenceNotFound', errorClass: ReferenceNotFoundError }
  await rejects(bot.createEvent({ type: 'reminder', payload: { note: 'x' }, conversationId: unknownConversationId }), missing)
  await rejects(bot.createEvent({ type: 'reminder', payload: { note: 'x' }, userId: unknownUserId }), missing)
  await rejects(bot.createEvent({ type: 'reminder', payload: { note: 'x' }, messageId: unknownMessageId }), missing)
  // The integration creates only the events it declares.
  await rejects(integ.createEvent({ type: 'reminder', payload: { note: 'x' }, conversationId: evConv }), invalid)
  await rejects(integ.createEvent({ type: 'ping', payload: { n: 'one' }, conversationId: evConv }), invalid)
  await rejects(bot.getEvent({ id: unknownEventId }), { type: 'ResourceNotFound', errorClass: ResourceNotFoundError })
  const { events } = await bot.listEvents({ conversationId: evConv })
  assert.deepEqual(ids(events), [botEvent], 'no rejected event was stored')
})

await check('integration createEvent: the integration sees its bare type, the bot <alias>:<type>', async () => {
  const { event } = await integ.createEvent({ type: 'ping', payload: { n: 1 }, conversationId: evConv, userId: ann })
  assert.match(event.id, EVENT_ID)
  assert.equal(event.type, 'ping')
  assert.deepEqual(event.payload, { n: 1 })
  assert.equal(event.status, 'pending')
  assert.equal(event.failureReason, null)
  assert.equal(event.conversationId, evConv)
  assert.equal(event.userId, ann)
  pingEvent = event.id
  const { event: asBot } = await bot.getEvent({ id: pingEvent })
  assert.equal(asBot.type, `${alias}:ping`)
  assert.deepEqual(asBot.payload, { n: 1 })
  const { event: asIntegration } = await integ.getEvent({ id: pingEvent })
  assert.equal(asIntegration.type, 'ping')
  const byBot = await bot.listEvents({ conversationId: evConv })
  assert.deepEqual(
    byBot.events.map((e) => [e.id, e.type]),
    [
      [pingEvent, `${alias}:ping`],
      [botEvent, 'reminder'],
    ]
  )
  const byIntegration = await integ.listEvents({ conversationId: evConv })
  assert.deepEqual(
    byIntegration.events.map((e) => [e.id, e.type]),
    [[pingEvent, 'ping']],
    "the integration lists its own events only"
  )
  await rejects(integ.getEvent({ id: botEvent }), { type: 'ResourceNotFound', errorClass: ResourceNotFoundError })
})

await check('scheduled events: delay or a future dateTime; cancelScheduledEvent cancels once', async () => {
  const byDelay = await bot.createEvent({
    type: 'reminder',
    payload: { note: 'in an hour' },
    conversationId: evConv,
    schedule: { delay: HOUR },
  })
  assert.equal(byDelay.event.status, 'scheduled')
  assert.equal(byDelay.event.failureReason, null)
  const byDate = await bot.createEvent({
    type: 'reminder',
    payload: { note: 'tomorrow' },
    conversationId: evConv,
    schedule: { dateTime: new Date(Date.now() + 24 * HOUR).toISOString() },
  })
  assert.equal(byDate.event.status, 'scheduled')
  scheduledEvent = byDate.event.id
  assert.deepEqual(await bot.cancelScheduledEvent({ id: byDelay.event.id }), {})
  const { event } = await bot.getEvent({ id: byDelay.event.id })
  assert.equal(event.status, 'canceled')
  assert.deepEqual(event.payload, { note: 'in an hour' })
  const notScheduled = { type: 'ResourceNotFound', errorClass: ResourceNotFoundError }
  await rejects(bot.cancelScheduledEvent({ id: byDelay.event.id }), notScheduled)
  await rejects(bot.cancelScheduledEvent({ id: botEvent }), notScheduled)
  await rejects(bot.cancelScheduledEvent({ id: unknownEventId }), notScheduled)
  await rejects(integ.cancelScheduledEvent({ id: scheduledEvent }), notScheduled)
  assert.equal((await bot.getEvent({ id: scheduledEvent })).event.status, 'scheduled', 'the other one is still scheduled')
  // The integration schedules its own events too.
  const ping = await integ.createEvent({ type: 'ping', payload: { n: 2 }, schedule: { delay: HOUR } })
  assert.equal(ping.event.status, 'scheduled')
  assert.deepEqual(await integ.cancelScheduledEvent({ id: ping.event.id }), {})
  assert.equal((await integ.getEvent({ id: ping.event.id })).event.status, 'canceled')
})

await check('schedule: both dateTime and delay reject; a dateTime in the past means now', async () => {
  await rejects(
    bot.createEvent({
      type: 'reminder',
      payload: { note: 'both' },
      conversationId: evConv,
      schedule: { delay: HOUR, dateTime: new Date(Date.now() + HOUR).toISOString() },
    }),
    { type: 'InvalidPayload', errorClass: InvalidPayloadError }
  )
  const { event } = await bot.createEvent({
    type: 'reminder',
    payload: { note: 'overdue' },
    schedule: { dateTime: new Date(Date.now() - HOUR).toISOString() },
  })
  assert.equal(event.status, 'pending')
  assert.equal((await bot.getEvent({ id: event.id })).event.status, 'pending')
})

await check('listEvents filters by type, conversation and status', async () => {
  const scheduled = await bot.listEvents({ conversationId: evConv, status: 'scheduled' })
  assert.deepEqual(ids(scheduled.events), [scheduledEvent])
  const canceled = await bot.listEvents({ conversationId: evConv, status: 'canceled' })
  assert.equal(canceled.events.length, 1)
  assert.deepEqual(canceled.events[0].payload, { note: 'in an hour' })
  const pending = await bot.listEvents({ conversationId: evConv, status: 'pending' })
  assert.deepEqual(ids(pending.events), [pingEvent, botEvent])
  const pings = await bot.listEvents({ conversationId: evConv, type: `${alias}:ping` })
  assert.deepEqual(ids(pings.events), [pingEvent])
  const pingsAsIntegration = await integ.listEvents({ conversationId: evConv, type: 'ping' })
  assert.deepEqual(ids(pingsAsIntegration.events), [pingEvent])
  const reminders = await bot.listEvents({ conversationId: evConv, type: 'reminder' })
  assert.ok(reminders.events.every((e) => e.type === 'reminder' && e.conversationId === evConv))
  assert.equal(reminders.events.length, 3)
  const byUser = await bot.listEvents({ userId: ann, type: 'reminder' })
  assert.deepEqual(ids(byUser.events), [botEvent])
  const none = await bot.listEvents({ conversationId: evConv, type: 'nope' })
  assert.deepEqual(none.events, [])
})

await check('listEvents: newest first, pageSize and meta.nextToken; client.list.events().collect()', async () => {
  const conversationId = (await integ.createConversation({ channel: 'channel', tags: { id: 'c-events-paged' } }))
    .conversation.id
  const created = []
  for (let i = 0; i < 5; i++) {
    const { event } = await bot.createEvent({ type: 'reminder', payload: { note: `n-${i}` }, conversationId })
    created.push(event.id)
  }
  const newestFirst = [...created].reverse()
  const page1 = await bot.listEvents({ conversationId, type: 'reminder', pageSize: 2 })
  assert.equal(page1.events.length, 2)
  assert.equal(typeof page1.meta.nextToken, 'string')
  const page2 = await bot.listEvents({ conversationId, type: 'reminder', pageSize: 2, nextToken: page1.meta.nextToken })
  assert.equal(page2.events.length, 2)
  assert.equal(typeof page2.meta.nextToken, 'string')
  const page3 = await bot.listEvents({ conversationId, type: 'reminder', pageSize: 2, nextToken: page2.meta.nextToken })
  assert.equal(page3.events.length, 1)
  assert.ok(!page3.meta.nextToken, `the last page has no nextToken: ${JSON.stringify(page3.meta)}`)
  assert.deepEqual(ids([...page1.events, ...page2.events, ...page3.events]), newestFirst)
  assert.deepEqual(page1.events[0].payload, { note: 'n-4' })
  const collected = await bot.list.events({ conversationId, pageSize: 2 }).collect()
  assert.deepEqual(ids(collected), newestFirst)
  const limited = await bot.list.events({ conversationId }).collect({ limit: 3 })
  assert.deepEqual(ids(limited), newestFirst.slice(0, 3))
  assert.deepEqual(await integ.list.events({ conversationId }).collect(), [], "the bot's events are not the integration's")
})

// ---------------------------------------------------------------------------------------------
// 10. States

const unknownStateId = 'state_01J00000000000000000000000'
const STATE_ID = /^state_/
let cartId // the bot's cart on evConv

await check('getState of a state never set rejects with ResourceNotFoundError', async () => {
  const error = await rejects(bot.getState({ type: 'conversation', id: evConv, name: 'cart' }), {
    type: 'ResourceNotFound',
    errorClass: ResourceNotFoundError,
  })
  assert.equal(error.code, 404)
})

await check('setState creates a conversation state, then overwrites its whole payload', async () => {
  const { state } = await bot.setState({ type: 'conversation', id: evConv, name: 'cart', payload: { items: ['a'], total: 1 } })
  assertResource(state, 'state')
  assert.match(state.id, STATE_ID)
  assert.equal(state.botId, botId)
  assert.equal(state.name, 'cart')
  assert.equal(state.type, 'conversation')
  assert.deepEqual(state.payload, { items: ['a'], total: 1 })
  assert.equal(state.conversationId, evConv)
  assert.equal(state.userId, undefined)
  assert.equal(state.expiry, undefined, 'no expiry unless one is set')
  assert.equal(state.expiresAt, undefined)
  cartId = state.id
  const found = await bot.getState({ type: 'conversation', id: evConv, name: 'cart' })
  assert.deepEqual(found.state, state)
  assert.equal(found.meta.cached, false)
  const { state: overwritten } = await bot.setState({ type: 'conversation', id: evConv, name: 'cart', payload: { items: ['b'] } })
  assert.equal(overwritten.id, cartId, 'the same state')
  assert.deepEqual(overwritten.payload, { items: ['b'] }, 'setState replaces the payload')
  assert.equal(overwritten.createdAt, state.createdAt)
  assert.ok(overwritten.updatedAt >= state.updatedAt)
  assert.deepEqual((await bot.getState({ type: 'conversation', id: evConv, name: 'cart' })).state.payload, { items: ['b'] })
})

await check('a user state carries userId', async () => {
  const { state } = await bot.setState({ type: 'user', id: ann, name: 'profile', payload: { plan: 'pro', seats: 3 } })
  assert.match(state.id, STATE_ID)
  assert.equal(state.type, 'user')
  assert.equal(state.name, 'profile')
  assert.equal(state.userId, ann)
  assert.equal(state.conversationId, undefined)
  assert.deepEqual(state.payload, { plan: 'pro', seats: 3 })
  assert.deepEqual((await bot.getState({ type: 'user', id: ann, name: 'profile' })).state, state)
})

await check('state errors: schema, undeclared name, wrong type, unknown conversation or user', async () => {
  const invalid = { type: 'InvalidPayload', errorClass: InvalidPayloadError }
  const cart = { type: 'conversation', id: evConv, name: 'cart' }
  await rejects(bot.setState({ ...cart, payload: { items: 'b' } }), invalid)
  await rejects(bot.setState({ ...cart, payload: { items: ['b'], coupon: 'x' } }), invalid)
  await rejects(bot.setState({ type: 'user', id: ann, name: 'profile', payload: { plan: 'gold' } }), invalid)
  await rejects(bot.setState({ type: 'conversation', id: evConv, name: 'wishlist', payload: {} }), invalid)
  await rejects(bot.getState({ type: 'conversation', id: evConv, name: 'wishlist' }), invalid)
  // Declared for users, used on a conversation; declared for conversations, used on a user.
  await rejects(bot.setState({ type: 'conversation', id: evConv, name: 'profile', payload: { plan: 'free' } }), invalid)
  await rejects(bot.getState({ type: 'user', id: ann, name: 'cart' }), invalid)
  const missing = { type: 'ResourceNotFound', errorClass: ResourceNotFoundError }
  await rejects(bot.setState({ type: 'conversation', id: unknownConversationId, name: 'cart', payload: { items: [] } }), missing)
  await rejects(bot.setState({ type: 'user', id: unknownUserId, name: 'profile', payload: { plan: 'free' } }), missing)
  const { state } = await bot.getState(cart)
  assert.equal(state.id, cartId)
  assert.deepEqual(state.payload, { items: ['b'] }, 'the rejected writes changed nothing')
})

await check('patchState merges top-level keys; a missing state rejects with ResourceNotFoundError', async () => {
  const cart = { type: 'conversation', id: evConv, name: 'cart' }
  const patched = await bot.patchState({ ...cart, payload: { total: 2 } })
  assert.equal(patched.state.id, cartId)
  assert.deepEqual(patched.state.payload, { items: ['b'], total: 2 })
  const replacedKey = await bot.patchState({ ...cart, payload: { items: ['c', 'd'] } })
  assert.deepEqual(replacedKey.state.payload, { items: ['c', 'd'], total: 2 }, 'a top-level key is replaced whole')
  await rejects(bot.patchState({ ...cart, payload: { total: 'two' } }), { type: 'InvalidPayload', errorClass: InvalidPayloadError })
  assert.deepEqual((await bot.getState(cart)).state.payload, { items: ['c', 'd'], total: 2 })
  await rejects(bot.patchState({ type: 'user', id: bob, name: 'profile', payload: { plan: 'free' } }), {
    type: 'ResourceNotFound',
    errorClass: ResourceNotFoundError,
  })
  await rejects(bot.getState({ type: 'user', id: bob, name: 'profile' }), { type: 'ResourceNotFound' })
})

await check('getOrSetState creates when absent, then returns the stored state untouched', async () => {
  const key = { type: 'user', id: bob, name: 'profile' }
  const first = await bot.getOrSetState({ ...key, payload: { plan: 'free' } })
  assert.match(first.state.id, STATE_ID)
  assert.equal(first.state.userId, bob)
  assert.deepEqual(first.state.payload, { plan: 'free' })
  assert.equal(first.meta.cached, false)
  const second = await bot.getOrSetState({ ...key, payload: { plan: 'pro', seats: 9 } })
  assert.deepEqual(second.state, first.state, 'the stored state, untouched')
  assert.equal(second.meta.cached, false)
  assert.deepEqual((await bot.getState(key)).state.payload, { plan: 'free' })
  const existing = await bot.getOrSetState({ type: 'conversation', id: evConv, name: 'cart', payload: { items: [] } })
  assert.equal(existing.state.id, cartId)
  assert.deepEqual(existing.state.payload, { items: ['c', 'd'], total: 2 })
  await rejects(bot.getOrSetState({ type: 'user', id: carl, name: 'profile', payload: { plan: 'free' } }), {
    type: 'ResourceNotFound',
    errorClass: ResourceNotFoundError,
  })
})

await check('setStateExpiry sets expiry and expiresAt; expiry null removes both', async () => {
  const cart = { type: 'conversation', id: evConv, name: 'cart' }
  const { state } = await bot.setStateExpiry({ ...cart, expiry: 120_000 })
  assert.equal(state.id, cartId)
  assert.equal(state.expiry, 120_000)
  assert.match(state.expiresAt, ISO)
  const ahead = Date.parse(state.expiresAt) - Date.now()
  assert.ok(ahead > 100_000 && ahead <= 120_000, `expiresAt is about two minutes ahead (${ahead} ms)`)
  assert.deepEqual(state.payload, { items: ['c', 'd'], total: 2 }, 'the payload is kept')
  const found = (await bot.getState(cart)).state
  assert.equal(found.expiry, 120_000)
  assert.equal(found.expiresAt, state.expiresAt)
  const { state: cleared } = await bot.setStateExpiry({ ...cart, expiry: null })
  assert.equal(cleared.expiry, undefined)
  assert.equal(cleared.expiresAt, undefined)
  const after = (await bot.getState(cart)).state
  assert.equal(after.expiry, undefined)
  assert.equal(after.expiresAt, undefined)
  await rejects(bot.setStateExpiry({ type: 'user', id: bob, name: 'cart', expiry: 1000 }), { type: 'InvalidPayload' })
  await rejects(bot.setStateExpiry({ type: 'conversation', id: evConv, name: 'session', expiry: 1000 }), {
    type: 'ResourceNotFound',
    errorClass: ResourceNotFoundError,
  })
})

await check('setState with an expiry, or a declared one, sets expiry and expiresAt', async () => {
  const session = { type: 'conversation', id: evConv, name: 'session' }
  const declared = await bot.setState({ ...session, payload: { step: 'start' } })
  assert.equal(declared.state.expiry, SESSION_EXPIRY, 'the expiry the definition declares')
  assert.match(declared.state.expiresAt, ISO)
  const given = await bot.setState({ type: 'user', id: ann, name: 'profile', payload: { plan: 'pro' }, expiry: 300_000 })
  assert.equal(given.state.expiry, 300_000)
  assert.match(given.state.expiresAt, ISO)
  const ahead = Date.parse(given.state.expiresAt) - Date.now()
  assert.ok(ahead > 280_000 && ahead <= 300_000, `expiresAt is about five minutes ahead (${ahead} ms)`)
})

await check('setState with a null payload deletes; deleting a missing state succeeds', async () => {
  const session = { type: 'conversation', id: evConv, name: 'session' }
  await bot.setState({ ...session, payload: null })
  await rejects(bot.getState(session), { type: 'ResourceNotFound', errorClass: ResourceNotFoundError })
  await bot.setState({ ...session, payload: null })
  await rejects(bot.getState(session), { type: 'ResourceNotFound', errorClass: ResourceNotFoundError })
  const recreated = await bot.getOrSetState({ ...session, payload: { step: 'again' } })
  assert.deepEqual(recreated.state.payload, { step: 'again' })
})

await check('a bot state has type bot and the bot id as its id', async () => {
  const key = { type: 'bot', id: botId, name: 'settings' }
  const { state } = await bot.setState({ ...key, payload: { mode: 'on' } })
  assert.match(state.id, STATE_ID)
  assert.equal(state.type, 'bot')
  assert.equal(state.botId, botId)
  assert.equal(state.conversationId, undefined)
  assert.equal(state.userId, undefined)
  assert.deepEqual((await bot.getState(key)).state, state)
  await rejects(bot.setState({ type: 'bot', id: 'bot_01J00000000000000000000000', name: 'settings', payload: { mode: 'x' } }), {
    type: 'ResourceNotFound',
    errorClass: ResourceNotFoundError,
  })
  await rejects(bot.setState({ type: 'conversation', id: botId, name: 'settings', payload: { mode: 'x' } }), {
    type: 'InvalidPayload',
    errorClass: InvalidPayloadError,
  })
})

await check("an integration's state named like the bot's does not collide with it", async () => {
  const cart = { type: 'conversation', id: evConv, name: 'cart' }
  const { state } = await integ.setState({ ...cart, payload: { cursor: 'page-2' } })
  assert.match(state.id, STATE_ID)
  assert.notEqual(state.id, cartId)
  assert.equal(state.name, 'cart')
  assert.equal(state.conversationId, evConv)
  assert.deepEqual(state.payload, { cursor: 'page-2' })
  assert.deepEqual((await integ.getState(cart)).state.payload, { cursor: 'page-2' })
  const asBot = (await bot.getState(cart)).state
  assert.equal(asBot.id, cartId)
  assert.deepEqual(asBot.payload, { items: ['c', 'd'], total: 2 })
  // Each validates against its own definition.
  const invalid = { type: 'InvalidPayload', errorClass: InvalidPayloadError }
  await rejects(integ.setState({ ...cart, payload: { items: ['x'] } }), invalid)
  await rejects(integ.setState({ type: 'user', id: ann, name: 'profile', payload: { plan: 'free' } }), invalid)
  // Deleting the bot's does not delete the integration's.
  await bot.setState({ ...cart, payload: null })
  await rejects(bot.getState(cart), { type: 'ResourceNotFound', errorClass: ResourceNotFoundError })
  assert.deepEqual((await integ.getState(cart)).state.payload, { cursor: 'page-2' })
  cartId = (await bot.setState({ ...cart, payload: { items: ['e'] } })).state.id
})

await check('an integration state has type integration and the integration id as its id', async () => {
  const key = { type: 'integration', id: integrationId, name: 'credentials' }
  await rejects(integ.getState(key), { type: 'ResourceNotFound', errorClass: ResourceNotFoundError })
  const { state } = await integ.setState({ ...key, payload: { token: 's3cret' } })
  assert.match(state.id, STATE_ID)
  assert.equal(state.type, 'integration')
  assert.equal(state.botId, botId)
  assert.deepEqual((await integ.getState(key)).state, state)
  const patched = await integ.patchState({ ...key, payload: { token: 'rotated' } })
  assert.deepEqual(patched.state.payload, { token: 'rotated' })
  await rejects(integ.setState({ type: 'integration', id: botId, name: 'credentials', payload: { token: 'x' } }), {
    type: 'ResourceNotFound',
    errorClass: ResourceNotFoundError,
  })
  await rejects(bot.getState(key), { type: 'InvalidPayload', errorClass: InvalidPayloadError })
})

// ---------------------------------------------------------------------------------------------
// 11. Tag values

/** Every value of a listTagValues walk, page after page. */
async function allTagValues(client, input) {
  const values = []
  let nextToken
  do {
    const { tags, meta } = await client.listTagValues({ ...input, nextToken })
    values.push(...tags.map((tag) => tag.value))
    nextToken = meta.nextToken
  } while (nextToken)
  return values
}

await check('listTagValues: distinct values, ascending, in the bot\'s or the integration\'s key', async () => {
  const threads = ['beta', 'alpha', 'Zulu', 'alpha', 'gamma']
  for (const [i, thread] of threads.entries()) {
    await integ.createConversation({ channel: 'channel', tags: { id: `c-tv-${i}`, thread } })
  }
  const conversations = await bot.list.conversations({}).collect()
  const expected = [...new Set(conversations.map((c) => c.tags[`${alias}:thread`]).filter(Boolean))].sort()
  assert.ok(['Zulu', 'alpha', 'beta', 'gamma'].every((value) => expected.includes(value)))
  const asBot = await bot.listTagValues({ type: 'conversation', key: `${alias}:thread` })
  assert.deepEqual(asBot.tags, expected.map((value) => ({ value })))
  assert.ok(!asBot.meta.nextToken)
  const asIntegration = await integ.listTagValues({ type: 'conversation', key: 'thread' })
  assert.deepEqual(asIntegration.tags, expected.map((value) => ({ value })))
  // The bot's own key.
  await bot.updateConversation({ id: chat, tags: { topic: 'sales' } })
  await bot.updateConversation({ id: other, tags: { topic: 'billing' } })
  await bot.updateConversation({ id: paged, tags: { topic: 'Account' } })
  const topics = await bot.listTagValues({ type: 'conversation', key: 'topic' })
  assert.deepEqual(topics.tags, [{ value: 'Account' }, { value: 'billing' }, { value: 'sales' }])
  // The bot may write the integration's tags on a user of its own: the integration does not see it.
  await bot.updateUser({ id: bob, tags: { [`${alias}:handle`]: 'bobby' } })
  const handlesAsBot = await bot.listTagValues({ type: 'user', key: `${alias}:handle` })
  assert.deepEqual(handlesAsBot.tags, [{ value: 'bobby' }, { value: 'bulk' }, { value: 'odd' }])
  const handles = await integ.listTagValues({ type: 'user', key: 'handle' })
  assert.deepEqual(handles.tags, [{ value: 'bulk' }, { value: 'odd' }], "only the integration's own users count")
  const messageIds = await bot.listTagValues({ type: 'message', key: 'externalId' })
  assert.deepEqual(messageIds.tags, [{ value: 'e-1' }])
})

await check('listTagValues pages with pageSize and meta.nextToken', async () => {
  const users = await bot.list.users({}).collect()
  const expected = [...new Set(users.map((user) => user.tags[`${alias}:id`]).filter(Boolean))].sort()
  assert.ok(expected.length > 20, `more than 20 user ids: ${expected.length}`)
  const all = await allTagValues(bot, { type: 'user', key: `${alias}:id` })
  assert.deepEqual(all, expected, 'distinct, ascending')
  const page = await bot.listTagValues({ type: 'user', key: `${alias}:id`, pageSize: 10 })
  assert.equal(page.tags.length, 10)
  assert.equal(typeof page.meta.nextToken, 'string')
  const inTens = await allTagValues(bot, { type: 'user', key: `${alias}:id`, pageSize: 10 })
  assert.deepEqual(inTens, all)
  const asIntegration = await allTagValues(integ, { type: 'user', key: 'id', pageSize: 7 })
  assert.deepEqual(asIntegration, all)
})

await check('listTagValues errors: undeclared key, wrong namespace', async () => {
  const invalid = { type: 'InvalidPayload', errorClass: InvalidPayloadError }
  await rejects(bot.listTagValues({ type: 'conversation', key: 'thread' }), invalid)
  await rejects(bot.listTagValues({ type: 'user', key: 'topic' }), invalid)
  await rejects(integ.listTagValues({ type: 'conversation', key: 'topic' }), invalid)
})

// ---------------------------------------------------------------------------------------------
// 12. Isolation between bots

await check("another bot's key cannot read the first bot's events, states or tag values", async () => {
  const { bot: created } = await admin.createBot({
    name: `compat isolated bot ${suffix}`,
    conversation: { tags: { topic: {} } },
    events: botEvents,
    states: botStates,
  })
  const key = await admin.createBotApiKey({ botId: created.id })
  const stranger = new Client({ apiUrl, token: key.value, botId: created.id })
  const missing = { type: 'ResourceNotFound', errorClass: ResourceNotFoundError }
  await rejects(stranger.getEvent({ id: botEvent }), missing)
  await rejects(stranger.getEvent({ id: pingEvent }), missing)
  await rejects(stranger.cancelScheduledEvent({ id: scheduledEvent }), missing)
  assert.deepEqual((await stranger.listEvents({})).events, [])
  assert.deepEqual((await stranger.listEvents({ conversationId: evConv })).events, [])
  await rejects(stranger.getState({ type: 'conversation', id: evConv, name: 'cart' }), missing)
  await rejects(stranger.getState({ type: 'user', id: ann, name: 'profile' }), missing)
  await rejects(stranger.getState({ type: 'bot', id: botId, name: 'settings' }), missing)
  await rejects(stranger.setState({ type: 'conversation', id: evConv, name: 'cart', payload: { items: [] } }), missing)
  await rejects(stranger.patchState({ type: 'conversation', id: evConv, name: 'cart', payload: { items: [] } }), missing)
  await rejects(stranger.setState({ type: 'bot', id: botId, name: 'settings', payload: { mode: 'x' } }), missing)
  await rejects(stranger.createEvent({ type: 'reminder', payload: { note: 'x' }, conversationId: evConv }), {
    type: 'ReferenceNotFound',
    errorClass: ReferenceNotFoundError,
  })
  assert.deepEqual((await stranger.listTagValues({ type: 'conversation', key: 'topic' })).tags, [])
  // Nothing of the first bot changed.
  assert.equal((await bot.getEvent({ id: scheduledEvent })).event.status, 'scheduled')
  assert.deepEqual((await bot.getState({ type: 'conversation', id: evConv, name: 'cart' })).state.payload, { items: ['e'] })
  assert.deepEqual((await bot.getState({ type: 'bot', id: botId, name: 'settings' })).state.payload, { mode: 'on' })
})

// ---------------------------------------------------------------------------------------------
// 13. Workflows: the bot's own; an integration is refused every workflow operation

const unknownWorkflowId = 'wrkflow_01J00000000000000000000000'

/** The `workflow_update` events recorded for a workflow, newest first. */
async function workflowUpdates(workflowId) {
  const { events } = await bot.listEvents({ type: 'workflow_update', workflowId })
  return events
}

let onboarding // created pending on evConv for Ann

await check('createWorkflow pending: input, links and tags kept, 48-hour timeout; getWorkflow returns it', async () => {
  const { workflow } = await bot.createWorkflow({
    name: 'onboarding',
    status: 'pending',
    input: { plan: 'pro', seats: [1, 2] },
    conversationId: evConv,
    userId: ann,
    tags: { flow: 'signup', step: 'one' },
  })
  assertResource(workflow, 'workflow')
  assert.equal(workflow.name, 'onboarding')
  assert.equal(workflow.status, 'pending')
  assert.deepEqual(workflow.input, { plan: 'pro', seats: [1, 2] })
  assert.deepEqual(workflow.output, {})
  assert.equal(workflow.conversationId, evConv)
  assert.equal(workflow.userId, ann)
  assert.deepEqual(workflow.tags, { flow: 'signup', step: 'one' })
  assert.match(workflow.timeoutAt, ISO)
  assert.equal(Date.parse(workflow.timeoutAt) - Date.parse(workflow.createdAt), 48 * HOUR, 'the default timeout')
  assert.equal(workflow.completedAt, undefined)
  assert.equal(workflow.failureReason, undefined)
  assert.equal(workflow.parentWorkflowId, undefined)
  assert.deepEqual((await bot.getWorkflow({ id: workflow.id })).workflow, workflow)
  onboarding = workflow
})

await check('a workflow created pending is announced by one workflow_update event; running ones are not', async () => {
  const announced = await workflowUpdates(onboarding.id)
  assert.equal(announced.length, 1, `one workflow_update event: ${JSON.stringify(announced)}`)
  const [event] = announced
  assert.match(event.id, EVENT_ID)
  assert.equal(event.type, 'workflow_update')
  assert.equal(event.conversationId, evConv)
  assert.equal(event.userId, ann)
  assert.equal(event.payload.type, 'workflow_started')
  assert.deepEqual(event.payload.workflow, onboarding)
  assert.deepEqual(event.payload.conversation, (await bot.getConversation({ id: evConv })).conversation, "the bot's view")
  assert.deepEqual(event.payload.user, (await bot.getUser({ id: ann })).user, "the bot's view")
  assert.deepEqual((await bot.getEvent({ id: event.id })).event, event)
  const running = await bot.createWorkflow({ name: 'onboarding', status: 'in_progress', eventId: botEvent })
  assert.equal(running.workflow.status, 'in_progress')
  const listening = await bot.createWorkflow({ name: 'onboarding', status: 'listening', parentWorkflowId: onboarding.id })
  assert.equal(listening.workflow.status, 'listening')
  assert.equal(listening.workflow.parentWorkflowId, onboarding.id)
  assert.deepEqual(await workflowUpdates(running.workflow.id), [])
  assert.deepEqual(await workflowUpdates(listening.workflow.id), [])
})

await check('createWorkflow errors: in_progress without eventId, a finished status, unknown references', async () => {
  const invalid = { type: 'InvalidPayload', errorClass: InvalidPayloadError }
  const missing = { type: 'ReferenceNotFound', errorClass: ReferenceNotFoundError }
  const base = { name: `broken-${suffix}`, status: 'pending' }
  await rejects(bot.createWorkflow({ ...base, status: 'in_progress' }), invalid)
  await rejects(bot.createWorkflow({ ...base, status: 'completed' }), invalid)
  await rejects(bot.createWorkflow({ ...base, timeoutAt: 'tomorrow' }), invalid)
  await rejects(bot.createWorkflow({ ...base, status: 'in_progress', eventId: unknownEventId }), missing)
  await rejects(bot.createWorkflow({ ...base, conversationId: unknownConversationId }), missing)
  await rejects(bot.createWorkflow({ ...base, userId: unknownUserId }), missing)
  await rejects(bot.createWorkflow({ ...base, parentWorkflowId: unknownWorkflowId }), missing)
  assert.deepEqual((await bot.listWorkflows({ name: base.name })).workflows, [], 'nothing was stored')
  await rejects(bot.getWorkflow({ id: unknownWorkflowId }), { type: 'ResourceNotFound', errorClass: ResourceNotFoundError })
})

await check("workflows are the bot's: the integration's workflow calls reject with ForbiddenError", async () => {
  const forbidden = { type: 'Forbidden', errorClass: ForbiddenError }
  const id = onboarding.id
  await rejects(integ.createWorkflow({ name: 'onboarding', status: 'pending' }), forbidden)
  await rejects(integ.getOrCreateWorkflow({ name: 'onboarding', status: 'pending' }), forbidden)
  await rejects(integ.getWorkflow({ id }), forbidden)
  await rejects(integ.updateWorkflow({ id, status: 'paused' }), forbidden)
  await rejects(integ.deleteWorkflow({ id }), forbidden)
  await rejects(integ.listWorkflows({}), forbidden)
  assert.deepEqual((await bot.getWorkflow({ id })).workflow, onboarding, 'nothing changed')
})

await check('updateWorkflow: status, output, timeoutAt, tags per key; completing sets completedAt once', async () => {
  const invalid = { type: 'InvalidPayload', errorClass: InvalidPayloadError }
  const id = onboarding.id
  const started = await bot.updateWorkflow({ id, status: 'in_progress', eventId: botEvent })
  assert.equal(started.workflow.status, 'in_progress')
  await rejects(bot.updateWorkflow({ id, status: 'in_progress' }), invalid)
  const tagged = await bot.updateWorkflow({ id, output: { progress: 50 }, tags: { step: 'two', flow: '' } })
  assert.equal(tagged.workflow.status, 'in_progress', 'no status keeps the status')
  assert.deepEqual(tagged.workflow.output, { progress: 50 })
  assert.deepEqual(tagged.workflow.tags, { step: 'two' }, '"" removes a tag, the others are kept or replaced')
  assert.deepEqual(tagged.workflow.input, onboarding.input)
  assert.equal(tagged.workflow.completedAt, undefined)
  const later = new Date(Date.now() + 72 * HOUR).toISOString()
  const moved = await bot.updateWorkflow({ id, timeoutAt: later })
  assert.equal(Date.parse(moved.workflow.timeoutAt), Date.parse(later))
  const done = await bot.updateWorkflow({ id, status: 'completed', output: { progress: 100 } })
  assert.equal(done.workflow.status, 'completed')
  assert.match(done.workflow.completedAt, ISO)
  assert.deepEqual(done.workflow.output, { progress: 100 })
  // A finished workflow keeps its status; repeating it changes nothing about its end.
  await rejects(bot.updateWorkflow({ id, status: 'failed' }), invalid)
  await rejects(bot.updateWorkflow({ id, status: 'listening' }), invalid)
  const again = await bot.updateWorkflow({ id, status: 'completed', tags: { step: 'done' } })
  assert.equal(again.workflow.status, 'completed')
  assert.equal(again.workflow.completedAt, done.workflow.completedAt)
  assert.deepEqual(again.workflow.tags, { step: 'done' })
  assert.deepEqual((await bot.getWorkflow({ id })).workflow, again.workflow)
  await rejects(bot.updateWorkflow({ id, tags: { step: 'x'.repeat(501) } }), invalid)
  const cleared = await bot.updateWorkflow({ id, tags: { step: null } })
  assert.deepEqual(cleared.workflow.tags, {}, 'null removes a tag')
  await rejects(bot.updateWorkflow({ id: unknownWorkflowId, status: 'paused' }), {
    type: 'ResourceNotFound',
    errorClass: ResourceNotFoundError,
  })
})

await check('updateWorkflow to failed keeps failureReason and sets completedAt', async () => {
  const { workflow } = await bot.createWorkflow({ name: 'import', status: 'listening' })
  const { workflow: failed } = await bot.updateWorkflow({
    id: workflow.id,
    status: 'failed',
    failureReason: 'The file is empty.',
  })
  assert.equal(failed.status, 'failed')
  assert.equal(failed.failureReason, 'The file is empty.')
  assert.match(failed.completedAt, ISO)
  assert.deepEqual((await bot.getWorkflow({ id: workflow.id })).workflow, failed)
})

await check('deleteWorkflow, then getWorkflow rejects with ResourceNotFoundError; its event stays', async () => {
  const { workflow } = await bot.createWorkflow({ name: `doomed-${suffix}`, status: 'pending' })
  const [event] = await workflowUpdates(workflow.id)
  assert.ok(event, 'the pending workflow was announced')
  assert.deepEqual(await bot.deleteWorkflow({ id: workflow.id }), {})
  const missing = { type: 'ResourceNotFound', errorClass: ResourceNotFoundError }
  await rejects(bot.getWorkflow({ id: workflow.id }), missing)
  await rejects(bot.deleteWorkflow({ id: workflow.id }), missing)
  assert.deepEqual((await bot.listWorkflows({ name: workflow.name })).workflows, [])
  assert.equal((await bot.getEvent({ id: event.id })).event.payload.workflow.id, workflow.id)
})

await check('listWorkflows: newest first, filtered by statuses, name and tags; pageSize and meta.nextToken', async () => {
  const name = `batch-${suffix}`
  const created = []
  for (let i = 0; i < 7; i++) {
    const parity = i % 2 === 0 ? 'even' : 'odd'
    const { workflow } = await bot.createWorkflow({ name, status: 'listening', tags: { batch: suffix, parity } })
    created.push(workflow.id)
  }
  await bot.updateWorkflow({ id: created[0], status: 'completed' })
  await bot.updateWorkflow({ id: created[3], status: 'cancelled' })
  await bot.updateWorkflow({ id: created[5], status: 'paused' })
  const newestFirst = [...created].reverse()
  assert.deepEqual(ids(await bot.list.workflows({ name }).collect()), newestFirst)
  const finished = await bot.listWorkflows({ name, statuses: ['completed', 'cancelled'] })
  assert.deepEqual(ids(finished.workflows), [created[3], created[0]])
  assert.ok(finished.workflows.every((workflow) => ['completed', 'cancelled'].includes(workflow.status)))
  assert.deepEqual(ids((await bot.listWorkflows({ name, statuses: ['paused'] })).workflows), [created[5]])
  const even = await bot.list.workflows({ tags: { batch: suffix, parity: 'even' } }).collect()
  assert.deepEqual(ids(even), [created[6], created[4], created[2], created[0]])
  const evenListening = await bot.listWorkflows({ tags: { parity: 'even', batch: suffix }, statuses: ['listening'] })
  assert.deepEqual(ids(evenListening.workflows), [created[6], created[4], created[2]])
  const page1 = await bot.listWorkflows({ name, pageSize: 3 })
  assert.equal(page1.workflows.length, 3)
  assert.equal(typeof page1.meta.nextToken, 'string')
  const page2 = await bot.listWorkflows({ name, pageSize: 3, nextToken: page1.meta.nextToken })
  assert.equal(page2.workflows.length, 3)
  assert.equal(typeof page2.meta.nextToken, 'string')
  const page3 = await bot.listWorkflows({ name, pageSize: 3, nextToken: page2.meta.nextToken })
  assert.equal(page3.workflows.length, 1)
  assert.ok(!page3.meta.nextToken, `the last page has no nextToken: ${JSON.stringify(page3.meta)}`)
  assert.deepEqual(ids([...page1.workflows, ...page2.workflows, ...page3.workflows]), newestFirst)
  assert.deepEqual(ids(await bot.list.workflows({ name, pageSize: 2 }).collect({ limit: 5 })), newestFirst.slice(0, 5))
  assert.deepEqual((await bot.listWorkflows({ name: `none-${suffix}` })).workflows, [])
  await rejects(bot.listWorkflows({ name, statuses: ['lost'] }), { type: 'InvalidPayload', errorClass: InvalidPayloadError })
})

let syncWorkflow // the active `sync` workflow of account acc-1

await check("getOrCreateWorkflow with discriminateByStatusGroup 'active': created once, found while active", async () => {
  const name = `sync-${suffix}`
  const request = {
    name,
    status: 'pending',
    input: { full: true },
    tags: { account: 'acc-1' },
    discriminateByStatusGroup: 'active',
  }
  const first = await bot.getOrCreateWorkflow(request)
  assert.equal(first.meta.created, true)
  assertResource(first.workflow, 'workflow')
  assert.equal(first.workflow.name, name)
  assert.equal(first.workflow.status, 'pending')
  assert.deepEqual(first.workflow.input, { full: true })
  assert.deepEqual(first.workflow.tags, { account: 'acc-1' })
  const again = await bot.getOrCreateWorkflow({ ...request, input: { full: false }, conversationId: evConv, userId: ann })
  assert.equal(again.meta.created, false)
  assert.deepEqual(again.workflow, first.workflow, 'the found workflow: input and links are not written onto it')
  const { workflow: paused } = await bot.updateWorkflow({ id: first.workflow.id, status: 'paused' })
  const whilePaused = await bot.getOrCreateWorkflow(request)
  assert.equal(whilePaused.meta.created, false, 'paused is active')
  assert.deepEqual(whilePaused.workflow, paused)
  assert.equal((await workflowUpdates(first.workflow.id)).length, 1, 'announced once, when it was created')
  // Finished, it is no longer in the active group: the next call starts another one.
  await bot.updateWorkflow({ id: first.workflow.id, status: 'completed' })
  const next = await bot.getOrCreateWorkflow(request)
  assert.equal(next.meta.created, true)
  assert.notEqual(next.workflow.id, first.workflow.id)
  assert.equal(next.workflow.status, 'pending')
  assert.equal((await workflowUpdates(next.workflow.id)).length, 1)
  const finished = await bot.getOrCreateWorkflow({ ...request, discriminateByStatusGroup: 'finished' })
  assert.equal(finished.meta.created, false)
  assert.equal(finished.workflow.id, first.workflow.id)
  assert.equal(finished.workflow.status, 'completed')
  const otherAccount = await bot.getOrCreateWorkflow({ ...request, tags: { account: 'acc-2' } })
  assert.equal(otherAccount.meta.created, true)
  assert.ok(![first.workflow.id, next.workflow.id].includes(otherAccount.workflow.id))
  const active = await bot.listWorkflows({ name, statuses: ['pending', 'in_progress', 'listening', 'paused'] })
  assert.deepEqual(ids(active.workflows), [otherAccount.workflow.id, next.workflow.id])
  syncWorkflow = next.workflow.id
})

await check('getOrCreateWorkflow with discriminateByTags compares the listed keys and writes the other tags', async () => {
  const name = `sync-${suffix}`
  const found = await bot.getOrCreateWorkflow({
    name,
    status: 'pending',
    tags: { account: 'acc-1', source: 'retry' },
    discriminateByTags: ['account'],
    discriminateByStatusGroup: 'active',
  })
  assert.equal(found.meta.created, false)
  assert.equal(found.workflow.id, syncWorkflow)
  assert.deepEqual(found.workflow.tags, { account: 'acc-1', source: 'retry' })
  assert.deepEqual((await bot.getWorkflow({ id: syncWorkflow })).workflow.tags, { account: 'acc-1', source: 'retry' })
  // Without discriminateByTags the whole tag set must match, which it no longer does.
  const exact = await bot.getOrCreateWorkflow({
    name,
    status: 'pending',
    tags: { account: 'acc-1' },
    discriminateByStatusGroup: 'active',
  })
  assert.equal(exact.meta.created, true)
  assert.notEqual(exact.workflow.id, syncWorkflow)
  await rejects(bot.getOrCreateWorkflow({ name, status: 'pending', discriminateByStatusGroup: 'running' }), {
    type: 'InvalidPayload',
    errorClass: InvalidPayloadError,
  })
})

await check('concurrent getOrCreateWorkflow calls with the same key start one workflow, announced once', async () => {
  const request = { name: `race-${suffix}`, status: 'pending', tags: { account: 'acc-9' }, discriminateByStatusGroup: 'active' }
  const results = await Promise.all(Array.from({ length: 10 }, () => bot.getOrCreateWorkflow(request)))
  assert.equal(results.filter((result) => result.meta.created).length, 1, 'exactly one call created it')
  assert.equal(new Set(results.map((result) => result.workflow.id)).size, 1, 'every call answered the same workflow')
  assert.equal((await workflowUpdates(results[0].workflow.id)).length, 1)
  assert.equal((await bot.listWorkflows({ name: request.name })).workflows.length, 1)
})

// ---------------------------------------------------------------------------------------------
// 14. Tasks. @botpress/client 1.45.0 has no task methods (the operations are in the published
//     spec), so the checks call them as its methods do: through the client's own axios instance
//     (base URL, token, bot and integration headers) and its error mapping (`errorFrom`).

async function clientRequest(client, method, path, { body, params } = {}) {
  const search = new URLSearchParams()
  for (const [key, value] of Object.entries(params ?? {})) {
    if (value === undefined) continue
    if (Array.isArray(value)) value.forEach((item) => search.append(key, item))
    else if (typeof value === 'object') Object.entries(value).forEach(([k, v]) => search.append(`${key}.${k}`, v))
    else search.append(key, String(value))
  }
  const query = search.toString()
  try {
    const response = await client.axiosInstance.request({ method, url: query ? `${path}?${query}` : path, data: body })
    return response.data
  } catch (error) {
    throw errorFrom(error?.response?.data ?? error)
  }
}

const taskApi = (client) => ({
  createTask: (input) => clientRequest(client, 'post', '/v1/chat/tasks', { body: input }),
  getTask: ({ id }) => clientRequest(client, 'get', `/v1/chat/tasks/${encodeURIComponent(id)}`),
  updateTask: ({ id, ...body }) => clientRequest(client, 'put', `/v1/chat/tasks/${encodeURIComponent(id)}`, { body }),
  deleteTask: ({ id }) => clientRequest(client, 'delete', `/v1/chat/tasks/${encodeURIComponent(id)}`),
  listTasks: (params = {}) => clientRequest(client, 'get', '/v1/chat/tasks', { params }),
})

let taskConv
let review

await check('createTask / getTask: a pending task of a conversation, with a 48-hour timeout', async () => {
  taskConv = (await integ.createConversation({ channel: 'channel', tags: { id: 'c-tasks' } })).conversation.id
  const { task } = await taskApi(bot).createTask({
    type: 'review',
    conversationId: taskConv,
    userId: ann,
    title: 'Review the order',
    description: 'Ann asked for a refund.',
    data: { order: 7 },
    tags: { queue: 'billing', level: '1' },
  })
  assertResource(task, 'task')
  assert.equal(task.type, 'review')
  assert.equal(task.status, 'pending')
  assert.equal(task.title, 'Review the order')
  assert.equal(task.description, 'Ann asked for a refund.')
  assert.deepEqual(task.data, { order: 7 })
  assert.equal(task.conversationId, taskConv)
  assert.equal(task.userId, ann)
  assert.deepEqual(task.tags, { queue: 'billing', level: '1' })
  assert.equal(Date.parse(task.timeoutAt) - Date.parse(task.createdAt), 48 * HOUR, 'the default timeout')
  assert.deepEqual((await taskApi(bot).getTask({ id: task.id })).task, task)
  assert.equal((await taskApi(integ).getTask({ id: task.id })).task.id, task.id, 'the integration sees its conversation')
  review = task
})

await check('updateTask: status, data, tags per key; deleteTask, then getTask rejects with ResourceNotFoundError', async () => {
  const { task } = await taskApi(bot).updateTask({
    id: review.id,
    status: 'in_progress',
    data: { order: 8 },
    tags: { level: '', owner: 'ann' },
  })
  assert.equal(task.status, 'in_progress')
  assert.deepEqual(task.data, { order: 8 })
  assert.deepEqual(task.tags, { queue: 'billing', owner: 'ann' })
  assert.equal(task.title, review.title, 'fields not given are kept')
  assert.equal(task.createdAt, review.createdAt)
  const { task: done } = await taskApi(bot).updateTask({ id: review.id, status: 'completed' })
  assert.equal(done.status, 'completed')
  assert.deepEqual((await taskApi(bot).getTask({ id: review.id })).task, done)
  const { task: doomed } = await taskApi(integ).createTask({ type: 'call', conversationId: taskConv })
  assert.deepEqual(await taskApi(integ).deleteTask({ id: doomed.id }), {})
  const missing = { type: 'ResourceNotFound', errorClass: ResourceNotFoundError }
  await rejects(taskApi(bot).getTask({ id: doomed.id }), missing)
  await rejects(taskApi(bot).updateTask({ id: doomed.id, status: 'failed' }), missing)
  await rejects(taskApi(bot).deleteTask({ id: doomed.id }), missing)
})

await check('listTasks: newest first, filtered by conversation, status, type and tags; nextToken pages', async () => {
  const created = [review.id]
  for (const type of ['call', 'review', 'call', 'review']) {
    created.push((await taskApi(integ).createTask({ type, conversationId: taskConv, tags: { queue: type } })).task.id)
  }
  const newestFirst = [...created].reverse()
  const all = await taskApi(bot).listTasks({ conversationId: taskConv })
  assert.deepEqual(ids(all.tasks), newestFirst)
  const completed = await taskApi(bot).listTasks({ conversationId: taskConv, status: ['completed', 'failed'] })
  assert.deepEqual(ids(completed.tasks), [review.id])
  const calls = await taskApi(bot).listTasks({ conversationId: taskConv, type: 'call' })
  assert.deepEqual(ids(calls.tasks), [created[3], created[1]])
  const tagged = await taskApi(integ).listTasks({ conversationId: taskConv, tags: { queue: 'review' } })
  assert.deepEqual(ids(tagged.tasks), [created[4], created[2]])
  const pages = []
  let nextToken
  do {
    const page = await taskApi(bot).listTasks({ conversationId: taskConv, pageSize: 2, nextToken })
    assert.ok(page.tasks.length <= 2)
    pages.push(...page.tasks)
    nextToken = page.meta.nextToken
  } while (nextToken)
  assert.deepEqual(ids(pages), newestFirst)
  await rejects(taskApi(bot).listTasks({ status: ['lost'] }), { type: 'InvalidPayload', errorClass: InvalidPayloadError })
})

await check('createTask errors: unknown conversation or user reject with ReferenceNotFoundError', async () => {
  const missing = { type: 'ReferenceNotFound', errorClass: ReferenceNotFoundError }
  await rejects(taskApi(bot).createTask({ type: 'review', conversationId: unknownConversationId }), missing)
  await rejects(taskApi(bot).createTask({ type: 'review', conversationId: taskConv, userId: unknownUserId }), missing)
  const parentTaskId = 'task_01J00000000000000000000000'
  await rejects(taskApi(bot).createTask({ type: 'review', conversationId: taskConv, parentTaskId }), missing)
})

// ---------------------------------------------------------------------------------------------
// 15. callAction. The scenario plays the integration's server: a Node HTTP server in this process,
//     answering `action_triggered` as an @botpress/sdk integration does.

/** A server that records every call made to it and answers `respond(call)` = [status, body]. */
async function standIn(respond) {
  const calls = []
  const server = createServer((req, res) => {
    const chunks = []
    req.on('data', (chunk) => chunks.push(chunk))
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString()
      const call = { headers: req.headers, body: text ? JSON.parse(text) : {} }
      calls.push(call)
      const [status, body] = respond(call)
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(JSON.stringify(body))
    })
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const close = () =>
    new Promise((resolve) => {
      server.close(resolve)
      server.closeAllConnections()
    })
  return { calls, url: `http://127.0.0.1:${server.address().port}/`, close }
}

const PRICING_DOWN = 'The pricing service is down.'

function playIntegration({ headers, body }) {
  if (headers['x-bp-operation'] !== 'action_triggered') return [200, {}]
  if (body.type === 'lookup' && body.input.sku === 'free') {
    return [200, { output: { sku: 'free', price: 'nothing' }, meta: { cost: 0 } }] // breaks the output schema
  }
  if (body.type === 'lookup') return [200, { output: { sku: body.input.sku, price: 12.5 }, meta: { cost: 0 } }]
  if (body.type === 'explode') return [400, { id: 'err_compat_explode', code: 400, type: 'Runtime', message: PRICING_DOWN }]
  return [400, { id: 'err_compat_unknown', code: 400, type: 'InvalidPayload', message: `Action ${body.type} not found` }]
}

let integrationServer

await check("admin updateIntegration sets the integration's url", async () => {
  integrationServer = await standIn(playIntegration)
  const { integration } = await admin.updateIntegration({ id: integrationId, url: integrationServer.url })
  assert.equal(integration.url, integrationServer.url)
  assert.deepEqual(Object.keys(integration.actions).sort(), ['explode', 'lookup'])
})

await check("callAction: the bot calls <alias>:lookup and gets the integration's output, meta.cached false", async () => {
  const before = integrationServer.calls.length
  const result = await bot.callAction({ type: `${alias}:lookup`, input: { sku: 'A-1' } })
  assert.deepEqual(result, { output: { sku: 'A-1', price: 12.5 }, meta: { cached: false } })
  const calls = integrationServer.calls.slice(before)
  assert.equal(calls.length, 1, 'one call reached the integration')
  const [{ headers, body }] = calls
  assert.deepEqual(body, { type: 'lookup', input: { sku: 'A-1' } }, 'the bare action name and the input')
  assert.equal(headers['x-bp-operation'], 'action_triggered')
  assert.equal(headers['x-bot-id'], botId)
  assert.equal(headers['x-integration-id'], integrationId)
  assert.equal(headers['x-integration-alias'], alias)
  assert.deepEqual(JSON.parse(Buffer.from(headers['x-bp-configuration'], 'base64').toString()), {}, 'the configuration')
  const { user } = await integ.getUser({ id: headers['x-bot-user-id'] })
  assert.equal(user.id, headers['x-bot-user-id'], 'x-bot-user-id names a user of the integration')
  // Outputs are not cached: the same call reaches the integration again.
  const again = await bot.callAction({ type: `${alias}:lookup`, input: { sku: 'A-1' } })
  assert.deepEqual(again, result)
  assert.equal(integrationServer.calls.length, before + 2)
  assert.equal(integrationServer.calls.at(-1).headers['x-bot-user-id'], headers['x-bot-user-id'], 'the same bot user')
})

await check("callAction: an error answer, or an output breaking the schema, rejects with the client's RuntimeError", async () => {
  const error = await rejects(bot.callAction({ type: `${alias}:explode`, input: {} }), {
    type: 'Runtime',
    errorClass: RuntimeError,
    messageIncludes: PRICING_DOWN,
  })
  assert.equal(error.code, 400)
  assert.equal(integrationServer.calls.at(-1).body.type, 'explode')
  await rejects(bot.callAction({ type: `${alias}:lookup`, input: { sku: 'free' } }), {
    type: 'Runtime',
    errorClass: RuntimeError,
  })
})

await check('callAction errors: undeclared action, input against its schema, unknown alias, an integration caller', async () => {
  const before = integrationServer.calls.length
  const invalid = { type: 'InvalidPayload', errorClass: InvalidPayloadError }
  await rejects(bot.callAction({ type: `${alias}:refund`, input: {} }), invalid)
  await rejects(bot.callAction({ type: `${alias}:lookup`, input: { sku: '' } }), invalid)
  await rejects(bot.callAction({ type: `${alias}:lookup`, input: {} }), invalid)
  await rejects(bot.callAction({ type: `${alias}:lookup`, input: { sku: 'A-1', coupon: 'x' } }), invalid)
  await rejects(bot.callAction({ type: 'elsewhere:lookup', input: { sku: 'A-1' } }), invalid)
  await rejects(bot.callAction({ type: 'lookup', input: { sku: 'A-1' } }), invalid) // the bot declares no action
  await rejects(integ.callAction({ type: `${alias}:lookup`, input: { sku: 'A-1' } }), {
    type: 'Forbidden',
    errorClass: ForbiddenError,
  })
  assert.equal(integrationServer.calls.length, before, 'no refused call reached the integration')
})

await check('callAction: an integration that cannot be reached rejects with RuntimeError', async () => {
  await integrationServer.close()
  await rejects(bot.callAction({ type: `${alias}:lookup`, input: { sku: 'A-1' } }), { type: 'Runtime', errorClass: RuntimeError })
})

// ---------------------------------------------------------------------------------------------
// 16. importMessages

let importConv
const imported = (i, text, createdAt) => ({
  conversationId: importConv,
  userId: ann,
  type: 'text',
  payload: { text },
  tags: { id: `imp-${i}` },
  createdAt,
  discriminateByTags: ['id'],
})

await check('importMessages keeps createdAt, creates no event, and lists bad items in failedMessages', async () => {
  importConv = (await integ.createConversation({ channel: 'channel', tags: { id: 'c-import' } })).conversation.id
  const history = [
    imported(1, 'from the archive', '2021-03-04T05:06:07.000Z'),
    imported(2, '', '2021-03-04T05:07:00.000Z'), // an empty text breaks the channel's schema
    imported(3, 'still archived', '2021-03-04T05:08:09.123Z'),
    { ...imported(4, 'lost', '2021-03-04T05:09:00.000Z'), conversationId: unknownConversationId },
  ]
  const result = await integ.importMessages({ messages: history })
  assert.equal(result.messages.length, 2, JSON.stringify(result))
  const [first, third] = result.messages
  for (const [message, source] of [
    [first, history[0]],
    [third, history[2]],
  ]) {
    assertResource(message, 'message')
    assert.equal(message.createdAt, source.createdAt, 'createdAt is kept')
    assert.deepEqual(message.payload, source.payload)
    assert.deepEqual(message.tags, source.tags)
    assert.equal(message.direction, 'incoming')
    assert.equal(message.userId, ann)
    assert.equal(message.conversationId, importConv)
  }
  assert.deepEqual(result.resolvedMessages, result.messages)
  assert.deepEqual(result.failedMessages.map((failed) => failed.index), [1, 3])
  for (const failed of result.failedMessages) {
    assert.match(failed.error.id, /^err_/)
    assert.equal(typeof failed.error.message, 'string')
    assert.ok(isApiError(errorFrom(failed.error)), 'the error body is one the client understands')
  }
  const [bad, lost] = result.failedMessages
  assert.ok(['InvalidPayload', 'InvalidDataFormat'].includes(bad.error.type), bad.error.type)
  assert.ok(['ResourceNotFound', 'ReferenceNotFound'].includes(lost.error.type), lost.error.type)
  const listed = await bot.list.messages({ conversationId: importConv }).collect()
  assert.deepEqual(ids(listed), [third.id, first.id], 'newest createdAt first')
  assert.deepEqual(listed.map((message) => message.createdAt), [history[2].createdAt, history[0].createdAt])
  for (const message of listed) {
    assert.deepEqual((await bot.listEvents({ messageId: message.id })).events, [], 'an import is not dispatched')
  }
})

await check('importMessages again resolves to the stored messages; an empty discriminateByTags always creates', async () => {
  const { messages: before } = await bot.listMessages({ conversationId: importConv })
  const again = await integ.importMessages({
    messages: [imported(1, 'rewritten?', '2022-01-01T00:00:00.000Z'), imported(3, 'still archived', '2021-03-04T05:08:09.123Z')],
  })
  assert.deepEqual(again.failedMessages, [])
  assert.deepEqual(ids(again.messages), ids([...before].reverse()))
  assert.equal(again.messages[0].createdAt, '2021-03-04T05:06:07.000Z', 'the stored message, unchanged')
  assert.deepEqual(again.messages[0].payload, { text: 'from the archive' })
  const loose = { ...imported(5, 'no key', '2021-03-04T05:10:00.000Z'), discriminateByTags: [] }
  const one = await integ.importMessages({ messages: [loose] })
  const two = await integ.importMessages({ messages: [loose] })
  assert.notEqual(one.messages[0].id, two.messages[0].id)
  assert.equal((await bot.list.messages({ conversationId: importConv }).collect()).length, 4)
  const tooMany = Array.from({ length: 101 }, (_, i) => imported(100 + i, 'bulk', '2021-03-05T00:00:00.000Z'))
  await rejects(integ.importMessages({ messages: tooMany }), { type: 'InvalidPayload', errorClass: InvalidPayloadError })
})

// ---------------------------------------------------------------------------------------------
// 17. initializeIncomingMessage

await check('initializeIncomingMessage: user, conversation and message get-or-created; twice gives the same ids', async () => {
  const request = {
    user: { tags: { id: 'u-init', handle: 'ina' }, name: 'Ina', discriminateByTags: ['id'] },
    conversation: { channel: 'channel', tags: { id: 'c-init' }, discriminateByTags: ['id'] },
    message: { type: 'text', payload: { text: 'first words' }, tags: { id: 'm-init' }, discriminateByTags: ['id'] },
  }
  const first = await integ.initializeIncomingMessage(request)
  assertResource(first.user, 'user')
  assert.deepEqual(first.user.tags, { id: 'u-init', handle: 'ina' })
  assert.equal(first.user.name, 'Ina')
  assertResource(first.conversation, 'conversation')
  assert.equal(first.conversation.channel, 'channel')
  assert.equal(first.conversation.integration, integrationName)
  assert.deepEqual(first.conversation.tags, { id: 'c-init' })
  assertResource(first.message, 'message')
  assert.equal(first.message.direction, 'incoming')
  assert.equal(first.message.userId, first.user.id)
  assert.equal(first.message.conversationId, first.conversation.id)
  assert.deepEqual(first.message.payload, { text: 'first words' })
  assert.deepEqual(first.message.tags, { id: 'm-init' })
  const again = await integ.initializeIncomingMessage(request)
  assert.deepEqual(
    [again.user.id, again.conversation.id, again.message.id],
    [first.user.id, first.conversation.id, first.message.id]
  )
  // The same resources as the get-or-create operations find; one message, announced once.
  const user = await integ.getOrCreateUser({ tags: { id: 'u-init' }, discriminateByTags: ['id'] })
  assert.equal(user.meta.created, false)
  assert.equal(user.user.id, first.user.id)
  assert.deepEqual(ids((await bot.listMessages({ conversationId: first.conversation.id })).messages), [first.message.id])
  const { events } = await bot.listEvents({ messageId: first.message.id })
  assert.deepEqual(events.map((event) => event.type), ['message_created'])
  // By ids, and without a message.
  const byIds = await integ.initializeIncomingMessage({
    userId: first.user.id,
    conversationId: first.conversation.id,
    message: { type: 'text', payload: { text: 'more' }, tags: { id: 'm-init-2' }, discriminateByTags: ['id'] },
  })
  assert.equal(byIds.user.id, first.user.id)
  assert.equal(byIds.conversation.id, first.conversation.id)
  assert.notEqual(byIds.message.id, first.message.id)
  const bare = await integ.initializeIncomingMessage({ userId: first.user.id, conversationId: first.conversation.id })
  assert.equal(bare.user.id, first.user.id)
  assert.equal(bare.message, undefined)
})

await check('initializeIncomingMessage errors: both or neither of userId and user, an unknown conversation', async () => {
  const invalid = { type: 'InvalidPayload', errorClass: InvalidPayloadError }
  const user = { tags: { id: 'u-init' }, discriminateByTags: ['id'] }
  const conversation = { channel: 'channel', tags: { id: 'c-init' }, discriminateByTags: ['id'] }
  await rejects(integ.initializeIncomingMessage({ userId: ann, user, conversation }), invalid)
  await rejects(integ.initializeIncomingMessage({ conversation }), invalid)
  await rejects(integ.initializeIncomingMessage({ user }), invalid)
  await rejects(integ.initializeIncomingMessage({ userId: ann, conversationId: unknownConversationId }), {
    type: 'ResourceNotFound',
    errorClass: ResourceNotFoundError,
  })
})

// ---------------------------------------------------------------------------------------------
// 18. trackAnalytics and configureIntegration

await check('trackAnalytics answers {} to the bot and to the integration; a count below 1 is refused', async () => {
  assert.deepEqual(await bot.trackAnalytics({ name: 'compat.conversations', count: 2 }), {})
  assert.deepEqual(await integ.trackAnalytics({ name: 'compat.conversations', count: 1 }), {})
  await rejects(bot.trackAnalytics({ name: 'compat.conversations', count: 0 }), {
    type: 'InvalidPayload',
    errorClass: InvalidPayloadError,
  })
})

await check('configureIntegration: {} for the integration; the bot is refused with ForbiddenError', async () => {
  assert.deepEqual(await integ.configureIntegration({ identifier: `team-${suffix}` }), {})
  assert.deepEqual(await integ.configureIntegration({ sandboxIdentifiers: { shared: 'sbx' } }), {})
  assert.deepEqual(await integ.configureIntegration({ identifier: null, sandboxIdentifiers: null }), {})
  assert.deepEqual(await integ.configureIntegration({ scheduleRegisterCall: 'monthly' }), {})
  await rejects(integ.configureIntegration({ scheduleRegisterCall: 'sometimes' }), {
    type: 'InvalidPayload',
    errorClass: InvalidPayloadError,
  })
  await rejects(bot.configureIntegration({ identifier: 'not-mine' }), { type: 'Forbidden', errorClass: ForbiddenError })
})

summary()
process.exit(failures.length === 0 ? 0 : 1)
