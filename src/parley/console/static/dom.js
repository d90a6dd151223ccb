// Building the page from data without ever parsing it as HTML: every string becomes a text node.

// h('a', {href, onclick, class}, 'text', child, [children]): an element. Attributes whose name
// starts with "on" are listeners; `null`, `undefined` and `false` children are left out.
export function h(tag, attributes, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else if (name === 'dataset') Object.assign(element.dataset, value);
    else if (value === true) element.setAttribute(name, '');
    else element.setAttribute(name, String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else if (child instanceof Node) element.append(child);
    else element.append(document.createTextNode(String(child)));
  }
}

export function clear(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

// A link target from data: only http(s) URLs, so that no `javascript:` can be clicked.
export function safeUrl(value) {
  if (typeof value !== 'string') return null;
  try {
    const found = new URL(value, location.origin);
    return found.protocol === 'http:' || found.protocol === 'https:' ? found.href : null;
  } catch {
    return null;
  }
}

export function when(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
}

export function tagList(tags) {
  const entries = Object.entries(tags || {});
  if (!entries.length) return null;
  return h('span', { class: 'tags' }, entries.map(([key, value]) => h('span', { class: 'tag' }, `${key}=${value}`)));
}

export function json(value) {
  return h('pre', { class: 'json' }, JSON.stringify(value, null, 2));
}
