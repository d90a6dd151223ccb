// The @botpress/sdk the end-to-end programs run on: the one installed in $PARLEY_E2E_SDK_DIR
// (tests/e2e, the default, pins SDK 5; tests/e2e/sdk7 pins SDK 7), so that bot.mjs, integration.mjs
// and definitions.mjs serve every pinned SDK version unchanged.

import { createRequire } from 'node:module'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const packageDir = resolve(process.env.PARLEY_E2E_SDK_DIR || dirname(fileURLToPath(import.meta.url)))
const require = createRequire(resolve(packageDir, 'package.json'))

export const { version } = require('@botpress/sdk/package.json')

if (Number(version.split('.')[0]) >= 7) {
  // SDK 7 decides whether to retry a failed call with `http.isNetworkOrIdempotentRequestError` of
  // @botpress/client 2, which the registry lacks. Client 1.45.0, installed in its place, exports the
  // same axios-retry function only as `axiosRetry.*`: without this, every failed call ends in a
  // TypeError (reported as an `Unknown` error) instead of the API's error. The SDK copies the
  // client's exports when it loads, hence before it.
  const client = createRequire(require.resolve('@botpress/sdk'))('@botpress/client')
  client.http ??= { isNetworkOrIdempotentRequestError: client.axiosRetry.isNetworkOrIdempotentRequestError }
}

export const { Bot, BotDefinition, Integration, IntegrationDefinition, RuntimeError, isApiError, z } =
  require('@botpress/sdk')
