// Calls to Parley's Admin, Runtime and parley APIs with the admin token, and to a bot's Chat API
// with a user key. The token lives in sessionStorage only: never in a URL, never logged.

const TOKEN = 'parley.adminToken';

export const session = {
  token: () => sessionStorage.getItem(TOKEN),
  signIn: (token) => sessionStorage.setItem(TOKEN, token),
  signOut: () => sessionStorage.removeItem(TOKEN),
};

// The server refused the token: the page goes back to the sign-in form.
export class SignedOut extends Error {}

export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.message ? body.message : `The server answered ${status}.`);
    this.status = status;
    this.type = body && body.type;
  }
}

function url(path, query) {
  const found = new URL(path, location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== '') found.searchParams.set(name, value);
  }
  return found;
}

async function answer(response) {
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : {};
  } catch {
    body = null;
  }
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

// An Admin, Runtime (with `botId`: as that bot) or /v1/parley call with the admin token.
export async function call(method, path, { body, query, botId, headers } = {}) {
  const token = session.token();
  if (!token) throw new SignedOut();
  const sent = { authorization: `Bearer ${token}`, ...(headers || {}) };
  if (botId) sent['x-bot-id'] = botId;
  if (body !== undefined) sent['content-type'] = 'application/json';
  const response = await fetch(url(path, query), {
    method,
    headers: sent,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store',
  });
  if (response.status === 401 || response.status === 403) {
    session.signOut();
    throw new SignedOut();
  }
  return answer(response);
}

// A bot's Chat API, as one of its users: `base` is `/chat/<webhookId>`, on this origin.
export async function chat(base, method, path, { key, body } = {}) {
  const headers = {};
  if (key) headers['x-user-key'] = key;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(base + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store',
  });
  return answer(response);
}

// Reads a Chat API `listen` stream with fetch (EventSource cannot send x-user-key): `onOpen()` once
// it is open, then `onSignal({type, data})` for each signal until `signal` aborts it or it ends.
export async function listen(base, conversationId, key, { onOpen, onSignal, signal }) {
  const response = await fetch(`${base}/conversations/${encodeURIComponent(conversationId)}/listen`, {
    headers: { 'x-user-key': key, accept: 'text/event-stream' },
    cache: 'no-store',
    signal,
  });
  if (!response.ok || !response.body) throw new ApiError(response.status, null);
  onOpen();
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n/g, '\n');
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block
        .split('\n')
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).replace(/^ /, ''))
        .join('\n');
      if (!data.startsWith('{')) continue; // keep-alives
      try {
        onSignal(JSON.parse(data));
      } catch (error) {
        console.warn('console: a signal could not be read', error);
      }
    }
  }
}
