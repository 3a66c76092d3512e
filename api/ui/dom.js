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
// Announces a message in the live region (errors stay until the next message).
export function say(message, kind = 'info') {
  const el = document.getElementById('status');
  el.textContent = message;
  el.dataset.kind = kind;
  clearTimeout(statusTimer);
  if (kind !== 'error') statusTimer = setTimeout(() => { el.textContent = ''; }, 6000);
}

export function fail(e) {
  const status = e && e.status ? ` (${e.status})` : '';
  say(`${e && e.message ? e.message : e}${status}`, 'error');
}

// Display text of a canonical or golden value: strings as they are, lists of
// {value}/{line1,...} objects joined, other objects as compact JSON.
export function show(v) {
  if (v === undefined || v === null || v === '') return '';
  if (Array.isArray(v)) return v.map(show).filter(Boolean).join('; ');
  if (typeof v === 'object') {
    if ('value' in v) return show(v.value);
    if ('line1' in v || 'city' in v) {
      return [v.line1, v.line2, v.city, v.region, v.postal_code, v.country].filter(Boolean).join(', ');
    }
    if ('purpose' in v) return `${v.purpose}/${v.channel}: ${v.status}`;
    return JSON.stringify(v);
  }
  return String(v);
}

// Comparison form: case and spacing do not make values different.
export function same(a, b) {
  const n = (s) => show(s).normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim();
  return n(a) === n(b);
}

export function fmtTime(t) {
  if (!t) return '';
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? String(t) : d.toLocaleString();
}

export function pct(p) {
  return typeof p === 'number' ? `${(p * 100).toFixed(1)}%` : '';
}
