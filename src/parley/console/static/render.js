// Messages drawn by type, from the Runtime API (`type`, `payload`) or the Chat API (a flat payload
// with its `type` inside). Text from users and bots is always text: markdown gets bold, italics and
// code at most, built as elements, never parsed as HTML.

import { h, json, safeUrl } from './dom.js';

function link(url, label) {
  const safe = safeUrl(url);
  return safe ? h('a', { href: safe, target: '_blank', rel: 'noopener noreferrer' }, label || url) : h('span', {}, label || url || '');
}

// `**bold**`, `*italic*` or `_italic_`, `` `code` ``, one line at a time.
const INLINE = /(\*\*[^*]+\*\*|`[^`]+`|\*[^*\s][^*]*\*|_[^_\s][^_]*_)/;

export function markdown(text) {
  const block = h('div', { class: 'markdown' });
  for (const line of String(text ?? '').split('\n')) {
    const paragraph = h('p');
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    const item = /^\s*[-*]\s+(.*)$/.exec(line);
    let rest = line;
    if (heading) {
      paragraph.className = 'md-heading';
      rest = heading[2];
    } else if (item) {
      paragraph.className = 'md-item';
      paragraph.append('• ');
      rest = item[1];
    }
    for (const part of rest.split(INLINE)) {
      if (!part) continue;
      if (part.startsWith('**') && part.endsWith('**') && part.length > 4) paragraph.append(h('strong', {}, part.slice(2, -2)));
      else if (part.startsWith('`') && part.endsWith('`') && part.length > 2) paragraph.append(h('code', {}, part.slice(1, -1)));
      else if (/^([*_]).+\1$/.test(part)) paragraph.append(h('em', {}, part.slice(1, -1)));
      else paragraph.append(part);
    }
    block.append(paragraph);
  }
  return block;
}

function card(payload, options) {
  const image = safeUrl(payload.imageUrl);
  return h(
    'div',
    { class: 'card' },
    image && h('img', { src: image, alt: payload.title || '', referrerpolicy: 'no-referrer', loading: 'lazy' }),
    h('div', { class: 'card-title' }, payload.title || ''),
    payload.subtitle && h('div', { class: 'card-subtitle' }, payload.subtitle),
    h(
      'div',
      { class: 'actions' },
      (payload.actions || []).map((action) =>
        action.action === 'url'
          ? link(action.value, action.label)
          : h(
              'button',
              { type: 'button', class: 'choice', disabled: !options.onChoose, onclick: () => options.onChoose && options.onChoose(action.value, action.label) },
              action.label || action.value,
            ),
      ),
    ),
  );
}

function choices(payload, options, asDropdown) {
  const items = payload.options || [];
  if (asDropdown) {
    const select = h(
      'select',
      { disabled: !options.onChoose, onchange: (event) => options.onChoose && event.target.value && options.onChoose(event.target.value, event.target.selectedOptions[0].textContent) },
      h('option', { value: '' }, 'Choose…'),
      items.map((option) => h('option', { value: option.value }, option.label || option.value)),
    );
    return h('div', { class: 'choice-block' }, h('p', {}, payload.text || ''), select);
  }
  return h(
    'div',
    { class: 'choice-block' },
    h('p', {}, payload.text || ''),
    h(
      'div',
      { class: 'actions' },
      items.map((option) =>
        h(
          'button',
          { type: 'button', class: 'choice', disabled: !options.onChoose, onclick: () => options.onChoose && options.onChoose(option.value, option.label) },
          option.label || option.value,
        ),
      ),
    ),
  );
}

function media(tag, url, title) {
  const safe = safeUrl(url);
  if (!safe) return h('span', { class: 'muted' }, `${tag}: ${url ?? ''}`);
  return h('div', { class: 'media' }, h(tag, { src: safe, controls: true, preload: 'none' }), link(url, title || url));
}

// The body of one message. `options.onChoose(value, label)` makes choices clickable (Try it).
export function payloadView(type, payload, options = {}) {
  const p = payload || {};
  switch (type) {
    case 'text':
      return h('p', { class: 'text' }, p.text ?? '');
    case 'markdown':
      return markdown(p.markdown);
    case 'image': {
      const safe = safeUrl(p.imageUrl);
      return safe
        ? h('figure', {}, h('img', { src: safe, alt: p.title || 'image', referrerpolicy: 'no-referrer', loading: 'lazy' }), p.title && h('figcaption', {}, p.title))
        : h('span', { class: 'muted' }, `image: ${p.imageUrl ?? ''}`);
    }
    case 'audio':
      return media('audio', p.audioUrl, p.title);
    case 'video':
      return media('video', p.videoUrl, p.title);
    case 'file':
      return h('p', {}, h('span', { class: 'muted' }, 'File: '), link(p.fileUrl, p.title || p.fileUrl));
    case 'location':
      return h(
        'p',
        { class: 'location' },
        h('span', { class: 'muted' }, 'Location: '),
        [p.title, p.address].filter(Boolean).join(', '),
        ` (${p.latitude}, ${p.longitude})`,
      );
    case 'card':
      return card(p, options);
    case 'carousel':
      return h('div', { class: 'carousel' }, (p.items || []).map((item) => card(item.payload || item, options)));
    case 'choice':
      return choices(p, options, false);
    case 'dropdown':
      return choices(p, options, true);
    case 'bloc':
    case 'markdownBloc':
      return h(
        'div',
        { class: 'bloc' },
        (p.items || []).map((item) => (item.payload ? payloadView(item.type, item.payload, options) : payloadView(item.type, item, options))),
      );
    default:
      return h('div', {}, h('span', { class: 'muted' }, `${type} message`), json(p));
  }
}
