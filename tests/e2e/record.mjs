// What the SDK processes saw, one JSON object a line, appended to $PARLEY_E2E_RECORD for the tests
// to read. Appending a line is one write: a reader never sees half of one.

import { appendFileSync } from 'node:fs'

const path = process.env.PARLEY_E2E_RECORD

export function record(entry) {
  if (!path) {
    throw new Error('Set PARLEY_E2E_RECORD to the file that collects what this process saw.')
  }
  appendFileSync(path, JSON.stringify({ at: new Date().toISOString(), ...entry }) + '\n')
}

export function listenPort() {
  const port = Number(process.env.PARLEY_E2E_PORT)
  if (!Number.isInteger(port) || port <= 0) {
    throw new Error('Set PARLEY_E2E_PORT to the port to listen on.')
  }
  return port
}
