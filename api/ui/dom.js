// Small DOM helpers. Text always goes through textContent, never innerHTML, so values
// from the API (customer data) can never become markup.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

let statusTimer;
let screen = ''; // the screen on display (app.js names it), whose message the status bar shows

// Announces a message in the status bar (always in view). A message belongs to the screen
// it was said on (or to the one named, where the action leads: the survivor of a merge):
// errors stay until the next message or the next screen, other messages for 6 s or until
// another screen opens.
export function say(message, kind = 'info', on = screen) {
  const el = document.getElementById('status');
  el.textContent = message;
  el.dataset.kind = kind;
  el.dataset.screen = on;
  clearTimeout(statusTimer);
  if (kind !== 'error') statusTimer = setTimeout(() => { el.textContent = ''; }, 6000);
}

// A new screen starts without the previous screen's messages; moving within a screen
// (the next review item after a decision, the survivor after a merge) keeps a message
// but not an error.
export function enterScreen(name) {
  const el = document.getElementById('status');
  if (el.dataset.kind === 'error' || el.dataset.screen !== name) {
    el.textContent = '';
    el.dataset.kind = 'info';
    clearTimeout(statusTimer);
  }
  screen = name;
  el.dataset.screen = name;
}

export function fail(e) {
  const status = e && e.status ? ` (${e.status})` : '';
  say(`${e && e.message ? e.message : e}${status}`, 'error');
}

// Display text of a canonical or golden value: strings as they are, lists joined, an
// address (whole or partial) as one line, other objects as "name: value" pairs.
const ADDRESS = ['line1', 'line2', 'city', 'region', 'postal_code', 'country'];
export function show(v) {
  if (v === undefined || v === null || v === '') return '';
  if (Array.isArray(v)) return v.map(show).filter(Boolean).join('; ');
  if (typeof v === 'object') {
    if ('value' in v) return show(v.value) + (v.type ? ` (${v.type})` : '');
    if (ADDRESS.some((k) => k in v)) return ADDRESS.map((k) => v[k]).filter(Boolean).join(', ');
    if ('purpose' in v) return `${v.purpose}/${v.channel}: ${v.status}`;
    return Object.entries(v).map(([k, x]) => `${k}: ${show(x)}`).join(', ');
  }
  return String(v);
}

// Text that may break after "@", ".", "," and ";" (an e-mail address wraps at its parts,
// not inside a word, on a narrow screen).
export function breakable(text) {
  const out = [];
  for (const part of String(text).split(/(?<=[@.,;])/)) out.push(part, h('wbr'));
  out.pop();
  return out;
}

// Attribute label: "birth_date" -> "birth date".
export const label = (n) => String(n).replace(/^attributes\./, '').replace(/_/g, ' ');

// Runs fn once at a time for a button: it is disabled while the request runs, so a
// double click sends one request.
export async function once(button, fn) {
  if (button.disabled) return undefined;
  button.disabled = true;
  try {
    return await fn();
  } finally {
    if (button.isConnected) button.disabled = false;
  }
}

export function fmtTime(t) {
  if (!t) return '';
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? String(t) : d.toLocaleString();
}

export function pct(p) {
  return typeof p === 'number' ? `${(p * 100).toFixed(1)}%` : '';
}

// The related golden records of an entity (GET /v1/entities/{id}/related items, or a review
// side's "related"): type badge, link, name and birth date, a steward's reason. onRemove
// (optional) adds a Remove button to steward-asserted relations.
const RELATION = { same_household: 'household', same_address: 'same address', related: 'related' };
export function relatedList(items, onRemove) {
  if (!items || !items.length) return h('p', { class: 'muted' }, 'No related golden records.');
  return h('ul', { class: 'related' }, ...items.map((r) => h('li', { dataset: { entity: r.entity_id, type: r.type } },
    h('span', { class: `badge rel-${r.type}` }, RELATION[r.type] || r.type), ' ',
    h('a', { href: `#/entity/${r.entity_id}` }, r.name || `Entity ${r.entity_id}`),
    h('span', { class: 'muted' }, ` #${r.entity_id}${r.birth_date ? ` · born ${r.birth_date}` : ''}`),
    r.reason ? h('span', { class: 'muted' }, ` · “${r.reason}”${r.asserted_by ? ` (${r.asserted_by})` : ''}`) : null,
    onRemove && r.type === 'related'
      ? h('button', { type: 'button', class: 'link', onclick: (ev) => onRemove(r, ev.currentTarget),
        'aria-label': `Remove the relation to entity ${r.entity_id}` }, 'Remove') : null)));
}
