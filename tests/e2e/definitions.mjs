// The bot's and the integration's definitions, written with @botpress/sdk as a `bp` project would
// write them (bot.definition.ts, integration.definition.ts), and turned into the bodies Parley's
// Admin API takes, in place of `bp deploy`.
//
//   node definitions.mjs     prints {"bot": <createBot body>, "integration": <createIntegration body>,
//                                    "sdk": <the SDK's version>}

import { pathToFileURL } from 'node:url'

import { BotDefinition, IntegrationDefinition, version, z } from './sdk.mjs'

export const CHANNEL = 'channel'

export const integrationDefinition = new IntegrationDefinition({
  name: 'parley-e2e-chat',
  version: '1.0.0',
  title: 'Chat',
  description: 'A chat app whose users talk to the bot on one channel.',
  configuration: { schema: z.object({ channelToken: z.string() }) },
  channels: {
    [CHANNEL]: {
      messages: { text: { schema: z.object({ text: z.string().min(1) }) } },
      conversation: { tags: { id: { title: 'Chat room id' } } },
      message: { tags: { id: { title: 'Id in the chat app' } } },
    },
  },
  user: { tags: { id: { title: 'Chat app user id' } } },
  actions: {
    // Greets someone by name; integration.mjs answers `Hello, <name>!`, or throws a RuntimeError
    // for the name `Nobody` (the SDK then answers 400 with the error's `Runtime` body).
    greet: {
      title: 'Greet',
      description: 'Greets someone in the chat app.',
      input: { schema: z.object({ name: z.string().min(1) }) },
      output: { schema: z.object({ text: z.string() }) },
    },
    // Looks a user up through the Runtime API (getUser); integration.mjs answers whether it was
    // found, and records the error the SDK's client threw when it was not.
    findUser: {
      title: 'Find user',
      description: 'Finds a user of the chat app by id.',
      input: { schema: z.object({ id: z.string().min(1) }) },
      output: { schema: z.object({ found: z.boolean() }) },
    },
  },
})

export const botDefinition = new BotDefinition({
  user: { tags: {} },
  conversation: { tags: {} },
  message: { tags: {} },
})

const tagSection = (section) => ({ tags: { ...(section?.tags ?? {}) } })

/** The createIntegration body: schemas as JSON Schema, as the CLI uploads them. */
export function integrationBody(definition = integrationDefinition) {
  const channels = Object.fromEntries(
    Object.entries(definition.channels).map(([name, channel]) => [
      name,
      {
        messages: Object.fromEntries(
          Object.entries(channel.messages).map(([type, message]) => [type, { schema: message.schema.toJSONSchema() }])
        ),
        conversation: tagSection(channel.conversation),
        message: tagSection(channel.message),
      },
    ])
  )
  // Like `bp deploy`: each action with its input and output schemas as JSON Schema.
  const actions = Object.fromEntries(
    Object.entries(definition.actions ?? {}).map(([name, action]) => [
      name,
      {
        ...(action.title === undefined ? {} : { title: action.title }),
        ...(action.description === undefined ? {} : { description: action.description }),
        input: { schema: action.input.schema.toJSONSchema() },
        output: { schema: action.output.schema.toJSONSchema() },
      },
    ])
  )
  return {
    name: definition.name,
    version: definition.version,
    title: definition.title,
    description: definition.description,
    configuration: { schema: definition.configuration.schema.toJSONSchema() },
    channels,
    user: tagSection(definition.user),
    actions,
  }
}

/** The createBot body. */
export function botBody(definition = botDefinition) {
  return {
    user: tagSection(definition.user),
    conversation: tagSection(definition.conversation),
    message: tagSection(definition.message),
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(JSON.stringify({ bot: botBody(), integration: integrationBody(), sdk: version }))
}
