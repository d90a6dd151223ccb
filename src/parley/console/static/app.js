// The console: sign-in, then views chosen by the URL's fragment (#/bots, #/bots/<id>, ...). Every
// view reads the Admin, Runtime and /v1/parley APIs with the admin token; lists are read a page at
// a time (nextToken), and live views poll their first page while they are shown.

import { ApiError, SignedOut, call, session } from './api.js';
import { clear, h, json, tagList, when } from './dom.js';
import { payloadView } from './render.js';
import { tryIt } from './tryit.js';

const POLL_MS = 2000;
const root = document.getElementById('main');

// What the shown view started (timers, streams): stopped when another view is shown.
let stops = [];

function stopView() {
  for (const stop of stops) stop();
  stops = [];
}

// Runs `task` every POLL_MS while the view is shown and the tab visible, one run at a time.
function every(task) {
  let running = false;
  const timer = setInterval(async () => {
    if (running || document.visibilityState !== 'visible') return;
    running = true;
    try {
      await task();
    } catch (error) {
      failed(error);
    } finally {
      running = false;
    }
  }, POLL_MS);
  stops.push(() => clearInterval(timer));
}

function failed(error) {
  if (error instanceof SignedOut) {
    showSignIn('The server refused the token: sign in again.');
    return;
  }
  console.warn('console:', error instanceof ApiError ? `${error.status} ${error.type}` : error);
  const notice = document.getElementById('notice');
  const text = error instanceof ApiError ? `${error.type || 'Error'}: ${error.message}` : String(error.message || error);
  if (notice) clear(notice, text);
}

// ---- sign-in ------------------------------------------------------------------------------

function showSignIn(message) {
  stopView();
  session.signOut();
  clear(root);
  document.getElementById('shell').hidden = true;
  document.getElementById('signin').hidden = false;
  document.getElementById('signin-error').textContent = message || '';
  document.getElementById('token').value = '';
  document.getElementById('token').focus();
}

async function signedIn() {
  // Any admin call tells whether the server takes the token.
  await call('GET', '/v1/admin/bots', { query: { pageSize: 1 } });
  document.getElementById('signin').hidden = true;
  document.getElementById('shell').hidden = false;
  await route();
}

document.getElementById('signin-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const input = document.getElementById('token');
  const token = input.value.trim();
  input.value = '';
  if (!token) return;
  session.signIn(token);
  try {
    await signedIn();
  } catch (error) {
    showSignIn(error instanceof SignedOut ? 'The server refused this token.' : `The server could not be reached: ${error.message}`);
  }
});

document.getElementById('signout').addEventListener('click', () => showSignIn(''));

// ---- routing ------------------------------------------------------------------------------

function parseHash() {
  const [path, query] = location.hash.replace(/^#/, '').split('?');
  return { parts: path.split('/').filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(query || '') };
}

function go(hash) {
  location.hash = hash;
}

async function route() {
  stopView();
  if (!session.token()) {
    showSignIn('');
    return;
  }
  const { parts, query } = parseHash();
  for (const link of document.querySelectorAll('[data-nav]')) {
    link.classList.toggle('active', link.dataset.nav === (parts[0] || 'bots'));
  }
  // Each view draws into an element of its own: one left behind by a quick navigation draws
  // into a detached element.
  const main = h('div', { class: 'view' }, h('p', { id: 'notice', class: 'error', role: 'alert' }));
  clear(root, main);
  const [section, id, sub, subId] = parts;
  try {
    if (section === 'deliveries' && id) await deliveryView(main, id);
    else if (section === 'deliveries') await deliveriesView(main, query);
    else if (section === 'bots' && id && sub === 'conversations' && subId) await conversationView(main, id, subId);
    else if (section === 'bots' && id && sub === 'conversations') await conversationsView(main, id, query);
    else if (section === 'bots' && id && sub === 'users' && subId) await userView(main, id, subId);
    else if (section === 'bots' && id && sub === 'try') await tryItView(main, id);
    else if (section === 'bots' && id) await botView(main, id);
    else await botsView(main);
  } catch (error) {
    failed(error);
  }
}

window.addEventListener('hashchange', route);

// ---- shared pieces --------------------------------------------------------------------------

function section(title, ...children) {
  return h('section', { class: 'panel' }, h('h2', {}, title), children);
}

function table(headings, body) {
  return h('table', {}, h('thead', {}, h('tr', {}, headings.map((heading) => h('th', {}, heading)))), body);
}

// A list read a page at a time: `read(nextToken)` answers {items, nextToken}; `row(item)` draws one.
// `refresh()` reads the first page again and puts what is new on top (live lists).
function pagedList(read, row, { keyOf = (item) => item.id, empty = 'Nothing yet.' } = {}) {
  const body = h('tbody');
  const more = h('button', { type: 'button', class: 'quiet', hidden: true }, 'Load more');
  const none = h('p', { class: 'muted' }, empty);
  const shown = new Map();
  let next = null;

  function draw(item, where) {
    const element = row(item);
    const key = keyOf(item);
    const old = shown.get(key);
    if (old) old.replaceWith(element);
    else if (where === 'top') body.prepend(element);
    else body.append(element);
    shown.set(key, element);
    return element;
  }

  async function load() {
    const page = await read(next);
    for (const item of page.items) draw(item, 'bottom');
    next = page.nextToken || null;
    more.hidden = !next;
    none.hidden = shown.size > 0;
  }

  async function refresh() {
    const page = await read(null);
    for (const item of [...page.items].reverse()) {
      const fresh = !shown.has(keyOf(item));
      const element = draw(item, 'top');
      if (fresh) element.classList.add('fresh');
    }
    none.hidden = shown.size > 0;
  }

  more.addEventListener('click', () => load().catch(failed));
  return { body, more, none, load, refresh };
}

// A filter: its fields (named inputs) go to the view's URL, so that a filtered view can be linked.
function filterForm(hash, fields) {
  const submit = (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const field of fields) {
      if (field.value.trim()) next.set(field.name, field.value.trim());
    }
    go(`${hash}?${next}`);
  };
  return h('form', { class: 'inline', onsubmit: submit }, fields, h('button', { type: 'submit' }, 'Filter'));
}

function tabs(botId, current) {
  const tab = (name, hash, label) => h('a', { href: hash, class: current === name ? 'tab active' : 'tab' }, label);
  return h(
    'nav',
    { class: 'tabs' },
    tab('overview', `#/bots/${botId}`, 'Overview'),
    tab('conversations', `#/bots/${botId}/conversations`, 'Conversations'),
    tab('try', `#/bots/${botId}/try`, 'Try it'),
    h('a', { href: `#/deliveries?botId=${encodeURIComponent(botId)}`, class: 'tab' }, 'Deliveries'),
  );
}

async function botHeader(main, botId, current) {
  const { bot } = await call('GET', `/v1/admin/bots/${encodeURIComponent(botId)}`, { headers: { 'x-multiple-integrations': 'true' } });
  main.append(h('h1', {}, bot.name || bot.id, ' ', h('small', { class: 'muted' }, bot.id)), tabs(botId, current));
  return bot;
}

let chatIntegration = null;

export async function chatIntegrationId() {
  if (!chatIntegration) {
    const { integrations } = await call('GET', '/v1/admin/integrations', { query: { name: 'chat' } });
    chatIntegration = integrations.length ? integrations[0].id : null;
  }
  return chatIntegration;
}

export async function installChat(botId) {
  const integrationId = await chatIntegrationId();
  await call('PUT', `/v1/admin/bots/${encodeURIComponent(botId)}`, {
    body: { integrations: { chat: { enabled: true, integrationId, configuration: {} } } },
  });
}

// ---- bots -------------------------------------------------------------------------------------

async function botsView(main) {
  const name = h('input', { name: 'name', placeholder: 'name', required: true });
  const url = h('input', { name: 'url', placeholder: 'https://my-bot.example (its server)', type: 'url' });
  const create = h(
    'form',
    {
      class: 'inline',
      id: 'create-bot',
      onsubmit: async (event) => {
        event.preventDefault();
        try {
          const body = { name: name.value.trim() };
          if (url.value.trim()) body.url = url.value.trim();
          const { bot } = await call('POST', '/v1/admin/bots', { body });
          go(`#/bots/${encodeURIComponent(bot.id)}`);
        } catch (error) {
          failed(error);
        }
      },
    },
    name,
    url,
    h('button', { type: 'submit' }, 'Create bot'),
  );
  const list = pagedList(
    async (nextToken) => {
      const answer = await call('GET', '/v1/admin/bots', { query: { nextToken } });
      return { items: answer.bots, nextToken: answer.meta.nextToken };
    },
    (bot) =>
      h(
        'tr',
        {},
        h('td', {}, h('a', { href: `#/bots/${encodeURIComponent(bot.id)}` }, bot.name || '(no name)')),
        h('td', { class: 'id' }, bot.id),
        h('td', {}, when(bot.createdAt)),
      ),
    { empty: 'No bots yet: create one above.' },
  );
  main.append(h('h1', {}, 'Bots'), section('New bot', create), section('All bots', table(['Name', 'Id', 'Created'], list.body), list.none, list.more));
  await list.load();
}

async function botView(main, botId) {
  const bot = await botHeader(main, botId, 'overview');
  const chatId = await chatIntegrationId();
  const installed = Object.entries(bot.integrations || {});
  const hasChat = installed.some(([, installation]) => installation.id === chatId);
  const integrations = table(
    ['Alias', 'Integration', 'Enabled', 'Status', 'Webhook URL'],
    h(
      'tbody',
      {},
      installed.map(([alias, installation]) =>
        h(
          'tr',
          { dataset: { alias } },
          h('td', {}, alias),
          h('td', {}, `${installation.name} ${installation.version}`),
          h('td', {}, installation.enabled ? 'yes' : 'no'),
          h('td', {}, h('span', { class: `status ${installation.status}` }, installation.status), installation.statusReason && h('div', { class: 'error' }, installation.statusReason)),
          h('td', { class: 'id webhook-url' }, installation.webhookUrl),
        ),
      ),
    ),
  );
  const install =
    !hasChat &&
    chatId &&
    h(
      'button',
      {
        type: 'button',
        id: 'install-chat',
        onclick: async () => {
          try {
            await installChat(botId);
            await route();
          } catch (error) {
            failed(error);
          }
        },
      },
      'Install the chat channel',
    );

  const keysBody = h('tbody');
  const shownKey = h('div', { class: 'once', hidden: true });
  async function loadKeys() {
    const { baks } = await call('GET', '/v1/admin/bots/baks', { query: { botId } });
    clear(
      keysBody,
      baks.map((key) =>
        h(
          'tr',
          {},
          h('td', { class: 'id' }, key.id),
          h('td', {}, key.note || ''),
          h('td', {}, when(key.createdAt)),
          h(
            'td',
            {},
            h(
              'button',
              {
                type: 'button',
                class: 'danger',
                onclick: async () => {
                  if (!window.confirm(`Revoke the key ${key.id}? Whatever uses it stops working.`)) return;
                  try {
                    await call('DELETE', `/v1/admin/bots/baks/${encodeURIComponent(key.id)}`);
                    await loadKeys();
                  } catch (error) {
                    failed(error);
                  }
                },
              },
              'Revoke',
            ),
          ),
        ),
      ),
    );
  }
  const note = h('input', { placeholder: 'note (what uses it)' });
  const createKey = h(
    'form',
    {
      class: 'inline',
      onsubmit: async (event) => {
        event.preventDefault();
        try {
          const key = await call('POST', '/v1/admin/bots/baks', { body: { botId, note: note.value.trim() || undefined } });
          note.value = '';
          clear(shownKey, h('strong', {}, 'The new key, shown once (copy it now): '), h('code', { class: 'key-value' }, key.value));
          shownKey.hidden = false;
          await loadKeys();
        } catch (error) {
          failed(error);
        }
      },
    },
    note,
    h('button', { type: 'submit' }, 'Create API key'),
  );

  main.append(
    section('Bot', h('dl', {}, h('dt', {}, 'Id'), h('dd', { class: 'id' }, bot.id), h('dt', {}, 'URL'), h('dd', {}, bot.url || '(none)'), h('dt', {}, 'Created'), h('dd', {}, when(bot.createdAt)))),
    section('Integrations', installed.length ? integrations : h('p', { class: 'muted' }, 'No integration installed.'), install),
    section('API keys', createKey, shownKey, table(['Id', 'Note', 'Created', ''], keysBody)),
  );
  await loadKeys();
}

// ---- conversations ----------------------------------------------------------------------------

function parseTags(text) {
  const tags = {};
  for (const pair of text.split(/[\s,]+/).filter(Boolean)) {
    const [key, ...value] = pair.split('=');
    tags[key] = value.join('=');
  }
  return tags;
}

async function conversationsView(main, botId, query) {
  await botHeader(main, botId, 'conversations');
  const channel = h('input', { name: 'channel', placeholder: 'channel', value: query.get('channel') || '' });
  const tags = h('input', { name: 'tags', placeholder: 'tags: key=value key2=value2', value: query.get('tags') || '' });
  const filter = filterForm(`#/bots/${encodeURIComponent(botId)}/conversations`, [channel, tags]);
  const filters = { channel: query.get('channel') || undefined };
  for (const [key, value] of Object.entries(parseTags(query.get('tags') || ''))) filters[`tags[${key}]`] = value;
  const list = pagedList(
    async (nextToken) => {
      const answer = await call('GET', '/v1/chat/conversations', { botId, query: { ...filters, nextToken } });
      return { items: answer.conversations, nextToken: answer.meta.nextToken };
    },
    (conversation) =>
      h(
        'tr',
        { class: 'conversation', dataset: { id: conversation.id } },
        h('td', {}, h('a', { href: `#/bots/${encodeURIComponent(botId)}/conversations/${encodeURIComponent(conversation.id)}` }, conversation.id)),
        h('td', {}, [conversation.integration, conversation.channel].filter(Boolean).join(' / ')),
        h('td', {}, tagList(conversation.tags)),
        h('td', {}, when(conversation.createdAt)),
        h('td', {}, when(conversation.updatedAt)),
      ),
    { empty: 'No conversations yet.' },
  );
  main.append(
    section('Conversations', h('p', { class: 'muted' }, 'Newest first; new ones appear as they start.'), filter, table(['Id', 'Channel', 'Tags', 'Created', 'Updated'], list.body), list.none, list.more),
  );
  await list.load();
  every(list.refresh);
}

function messageView(botId, message) {
  const outgoing = message.direction === 'outgoing';
  const author = outgoing
    ? 'bot'
    : h('a', { href: `#/bots/${encodeURIComponent(botId)}/users/${encodeURIComponent(message.userId)}` }, `user ${message.userId}`);
  return h(
    'li',
    { class: `message ${message.direction}`, dataset: { id: message.id } },
    h(
      'div',
      { class: 'meta' },
      h('span', { class: 'direction' }, outgoing ? '← outgoing' : '→ incoming'),
      ' · ',
      author,
      ' · ',
      h('span', { class: 'type' }, message.type),
      ' · ',
      when(message.createdAt),
      ' ',
      tagList(message.tags),
    ),
    h('div', { class: 'body' }, payloadView(message.type, message.payload)),
  );
}

// Events and states of a conversation or a user, each a paged list.
async function eventsAndStates(main, botId, filter, stateType, resourceId) {
  const events = pagedList(
    async (nextToken) => {
      const answer = await call('GET', '/v1/chat/events', { botId, query: { ...filter, nextToken } });
      return { items: answer.events, nextToken: answer.meta.nextToken };
    },
    (event) =>
      h('tr', {}, h('td', {}, event.type), h('td', {}, h('span', { class: `status ${event.status}` }, event.status), event.failureReason && h('div', { class: 'error' }, event.failureReason)), h('td', {}, when(event.createdAt)), h('td', {}, h('details', {}, h('summary', {}, 'payload'), json(event.payload)))),
    { empty: 'No events.' },
  );
  const states = pagedList(
    async (nextToken) => {
      const answer = await call('GET', `/v1/parley/bots/${encodeURIComponent(botId)}/states`, { query: { type: stateType, id: resourceId, nextToken } });
      return { items: answer.states, nextToken: answer.meta.nextToken };
    },
    (state) => h('tr', {}, h('td', {}, state.name), h('td', {}, state.integration || 'bot'), h('td', {}, when(state.updatedAt)), h('td', {}, state.expiresAt ? when(state.expiresAt) : ''), h('td', {}, json(state.payload))),
    { empty: 'No states.' },
  );
  main.append(
    section('Events', table(['Type', 'Status', 'Created', ''], events.body), events.none, events.more),
    section('States', table(['Name', 'Kept by', 'Updated', 'Expires', 'Payload'], states.body), states.none, states.more),
  );
  await Promise.all([events.load(), states.load()]);
}

async function conversationView(main, botId, conversationId) {
  await botHeader(main, botId, 'conversations');
  const { conversation } = await call('GET', `/v1/chat/conversations/${encodeURIComponent(conversationId)}`, { botId });
  const list = h('ol', { class: 'messages' });
  const older = h('button', { type: 'button', class: 'quiet', hidden: true }, 'Load older messages');
  const shown = new Set();
  let next = null;

  async function loadOlder() {
    const answer = await call('GET', '/v1/chat/messages', { botId, query: { conversationId, nextToken: next } });
    // Pages come newest first; the conversation reads oldest first.
    for (const message of answer.messages) {
      if (shown.has(message.id)) continue;
      shown.add(message.id);
      list.prepend(messageView(botId, message));
    }
    next = answer.meta.nextToken || null;
    older.hidden = !next;
  }

  async function loadNewer() {
    const answer = await call('GET', '/v1/chat/messages', { botId, query: { conversationId } });
    for (const message of [...answer.messages].reverse()) {
      if (shown.has(message.id)) continue;
      shown.add(message.id);
      list.append(messageView(botId, message));
    }
  }

  older.addEventListener('click', () => loadOlder().catch(failed));
  main.append(
    section(
      `Conversation ${conversation.id}`,
      h('p', {}, [conversation.integration, conversation.channel].filter(Boolean).join(' / '), ' · started ', when(conversation.createdAt), ' ', tagList(conversation.tags)),
      older,
      list,
    ),
  );
  await loadOlder();
  every(loadNewer);
  await eventsAndStates(main, botId, { conversationId }, 'conversation', conversationId);
}

async function userView(main, botId, userId) {
  await botHeader(main, botId, 'conversations');
  const { user } = await call('GET', `/v1/chat/users/${encodeURIComponent(userId)}`, { botId });
  main.append(
    section(`User ${user.id}`, h('dl', {}, h('dt', {}, 'Name'), h('dd', {}, user.name || ''), h('dt', {}, 'Tags'), h('dd', {}, tagList(user.tags) || ''), h('dt', {}, 'Created'), h('dd', {}, when(user.createdAt)))),
  );
  await eventsAndStates(main, botId, { userId }, 'user', userId);
}

// ---- deliveries -------------------------------------------------------------------------------

const STATUSES = ['', 'pending', 'in_flight', 'delivered', 'failed', 'canceled'];

function deliveryRow(delivery) {
  return h(
    'tr',
    { class: 'delivery', dataset: { id: delivery.id, status: delivery.status } },
    h('td', {}, h('a', { href: `#/deliveries/${encodeURIComponent(delivery.id)}` }, delivery.id)),
    h('td', { class: 'id' }, delivery.botId),
    h('td', {}, delivery.target, delivery.alias ? ` (${delivery.alias})` : ''),
    h('td', {}, delivery.operation),
    h('td', {}, h('span', { class: `status ${delivery.status}` }, delivery.status)),
    h('td', {}, String(delivery.attempts)),
    h('td', { class: 'error' }, delivery.lastError || ''),
    h('td', {}, when(delivery.updatedAt)),
  );
}

async function deliveriesView(main, query) {
  const bot = h('input', { name: 'botId', placeholder: 'bot id', value: query.get('botId') || '' });
  const target = h('input', { name: 'target', placeholder: 'target', value: query.get('target') || '' });
  const status = h('select', { name: 'status' }, STATUSES.map((value) => h('option', { value, selected: value === (query.get('status') || '') }, value || 'any status')));
  const filter = filterForm('#/deliveries', [bot, target, status]);
  const filters = { botId: query.get('botId'), target: query.get('target'), status: query.get('status') };
  const list = pagedList(
    async (nextToken) => {
      const answer = await call('GET', '/v1/parley/deliveries', { query: { ...filters, nextToken } });
      return { items: answer.deliveries, nextToken: answer.meta.nextToken };
    },
    deliveryRow,
    { empty: 'No deliveries.' },
  );
  main.append(
    h('h1', {}, 'Deliveries'),
    section('The outbox', h('p', { class: 'muted' }, 'Every call Parley makes to a bot or an integration, newest first.'), filter, table(['Id', 'Bot', 'Target', 'Operation', 'Status', 'Attempts', 'Last error', 'Updated'], list.body), list.none, list.more),
  );
  await list.load();
  every(list.refresh);
}

async function deliveryView(main, deliveryId) {
  const box = h('div');
  async function load() {
    const { delivery, attempts } = await call('GET', `/v1/parley/deliveries/${encodeURIComponent(deliveryId)}`);
    const retry =
      delivery.status === 'failed' &&
      delivery.operation !== 'webhook_received' &&
      h(
        'button',
        {
          type: 'button',
          id: 'retry',
          onclick: async () => {
            try {
              await call('POST', `/v1/parley/deliveries/${encodeURIComponent(deliveryId)}/retry`);
              await load();
            } catch (error) {
              failed(error);
            }
          },
        },
        'Retry',
      );
    clear(
      box,
      section(
        `Delivery ${delivery.id}`,
        h(
          'dl',
          {},
          h('dt', {}, 'Status'),
          h('dd', {}, h('span', { class: `status ${delivery.status}`, id: 'delivery-status' }, delivery.status)),
          h('dt', {}, 'Bot'),
          h('dd', {}, h('a', { href: `#/bots/${encodeURIComponent(delivery.botId)}` }, delivery.botId)),
          h('dt', {}, 'Target'),
          h('dd', {}, delivery.target, delivery.alias ? ` (${delivery.alias})` : ''),
          h('dt', {}, 'Operation'),
          h('dd', {}, delivery.operation),
          h('dt', {}, 'Attempts'),
          h('dd', {}, String(delivery.attempts)),
          h('dt', {}, 'Next attempt'),
          h('dd', {}, when(delivery.nextAttemptAt)),
          delivery.messageId && [h('dt', {}, 'Message'), h('dd', { class: 'id' }, delivery.messageId)],
          delivery.eventId && [h('dt', {}, 'Event'), h('dd', { class: 'id' }, delivery.eventId)],
          delivery.lastError && [h('dt', {}, 'Last error'), h('dd', { class: 'error' }, delivery.lastError)],
        ),
        retry,
      ),
      section(
        'Attempts',
        table(
          ['#', 'Started', 'Duration', 'Outcome', 'Status code', 'Error'],
          h('tbody', {}, attempts.map((attempt) => h('tr', {}, h('td', {}, String(attempt.number)), h('td', {}, when(attempt.startedAt)), h('td', {}, `${attempt.durationMs} ms`), h('td', {}, attempt.outcome), h('td', {}, attempt.statusCode ?? ''), h('td', { class: 'error' }, attempt.error || '')))),
        ),
      ),
    );
  }
  main.append(h('h1', {}, h('a', { href: '#/deliveries' }, 'Deliveries'), ' / ', deliveryId), box);
  await load();
  every(load);
}

// ---- try it -----------------------------------------------------------------------------------

async function tryItView(main, botId) {
  const bot = await botHeader(main, botId, 'try');
  const chatId = await chatIntegrationId();
  const found = Object.values(bot.integrations || {}).find((installation) => installation.id === chatId && installation.enabled);
  if (!found) {
    main.append(
      section(
        'Try it',
        h('p', {}, 'Try it talks to the bot through its chat channel, which is not installed.'),
        h('button', { type: 'button', id: 'install-chat', onclick: () => installChat(botId).then(route, failed) }, 'Install the chat channel'),
      ),
    );
    return;
  }
  const pane = h('div');
  main.append(section('Try it', h('p', { class: 'muted' }, 'You talk to the bot as a user of its chat channel; its replies arrive live.'), pane));
  stops.push(tryIt(pane, botId, `/chat/${encodeURIComponent(found.webhookId)}`, failed));
}

// ---- start ------------------------------------------------------------------------------------

if (session.token()) signedIn().catch((error) => showSignIn(error instanceof SignedOut ? 'The server refused the token: sign in again.' : ''));
else showSignIn('');
