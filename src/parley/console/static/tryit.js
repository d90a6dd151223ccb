// Try it: the operator talks to a bot as a user of its chat channel, through the bot's Chat API on
// this origin, as any client of the channel would: a user (and its key), a conversation, a
// `listen` stream for the replies, and messages sent with POST /messages.

import { chat, listen } from './api.js';
import { clear, h, when } from './dom.js';
import { payloadView } from './render.js';

// The user and conversation of each bot's pane, kept while the page is open.
const sessions = new Map();
const RECONNECT_MS = 1000;

// Draws the pane into `pane` and returns what stops it (the stream).
export function tryIt(pane, botId, base, failed) {
  const controller = new AbortController();
  const log = h('ol', { class: 'chat-log', id: 'chat-log' });
  const input = h('input', { id: 'chat-input', placeholder: 'Say something to the bot', autocomplete: 'off', disabled: true });
  const status = h('p', { class: 'muted', id: 'chat-status' }, 'Connecting…');
  const shown = new Set();
  let current = null;

  function show(message) {
    if (shown.has(message.id)) return;
    shown.add(message.id);
    const fromBot = message.userId !== current.userId;
    const payload = message.payload || {};
    log.append(
      h(
        'li',
        { class: fromBot ? 'bubble bot' : 'bubble user', dataset: { id: message.id } },
        h('div', { class: 'content' }, payloadView(payload.type, payload, { onChoose: fromBot ? (value) => send(value).catch(failed) : undefined })),
        h('span', { class: 'when' }, when(message.createdAt)),
      ),
    );
    log.scrollTop = log.scrollHeight;
  }

  async function send(text) {
    const body = { conversationId: current.conversationId, payload: { type: 'text', text } };
    const { message } = await chat(base, 'POST', '/messages', { key: current.key, body });
    show(message);
  }

  async function readMessages() {
    const path = `/conversations/${encodeURIComponent(current.conversationId)}/messages`;
    const { messages } = await chat(base, 'GET', path, { key: current.key });
    for (const message of [...messages].sort((a, b) => a.createdAt.localeCompare(b.createdAt))) show(message);
  }

  // Listens until the pane is left; a stream that ends or fails is opened again, and what was
  // said meanwhile is read back (streams are not replayed).
  async function stay() {
    while (!controller.signal.aborted) {
      try {
        await listen(base, current.conversationId, current.key, {
          signal: controller.signal,
          onOpen: () => {
            status.textContent = `Connected as user ${current.userId}, conversation ${current.conversationId}.`;
            input.disabled = false;
            readMessages().catch(failed);
          },
          onSignal: (signal) => {
            if (signal.type === 'message_created') show(signal.data);
          },
        });
      } catch (error) {
        if (controller.signal.aborted) return;
        console.warn('console: the chat stream failed', error);
      }
      if (controller.signal.aborted) return;
      status.textContent = 'Reconnecting…';
      await new Promise((resolve) => setTimeout(resolve, RECONNECT_MS));
    }
  }

  async function start(fresh) {
    let found = fresh ? null : sessions.get(botId);
    if (!found) {
      const { user, key } = await chat(base, 'POST', '/users', { body: {} });
      const { conversation } = await chat(base, 'POST', '/conversations', { key, body: {} });
      found = { userId: user.id, key, conversationId: conversation.id };
      sessions.set(botId, found);
    }
    current = found;
    await stay();
  }

  const form = h(
    'form',
    {
      class: 'chat-form',
      id: 'chat-form',
      onsubmit: (event) => {
        event.preventDefault();
        const text = input.value;
        if (!text.trim() || !current) return;
        input.value = '';
        send(text).catch(failed);
      },
    },
    input,
    h('button', { type: 'submit' }, 'Send'),
  );
  const restart = h(
    'button',
    {
      type: 'button',
      class: 'quiet',
      onclick: () => {
        sessions.delete(botId);
        controller.abort();
        // The view is drawn again with a new user and conversation.
        window.dispatchEvent(new HashChangeEvent('hashchange'));
      },
    },
    'New conversation',
  );
  clear(pane, status, log, form, restart);
  start(false).catch(failed);
  return () => controller.abort();
}
