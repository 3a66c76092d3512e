// Audit view: audit rows newest first with what changed (before -> after, per member),
// filters (actor, action, target, date range), paging, and the hash-chain check. The
// audit log is for compliance and admin keys: a steward key gets a plain explanation
// instead (and app.js hides the tab for it).
import { api, ApiError } from './api.js';
import { h, fmtTime, show } from './dom.js';

// Whether the signed-in key may read the audit log: a one-row probe (403: no).
export async function canReadAudit() {
  try {
    await api.audit({ limit: 1 });
    return true;
  } catch (e) {
    if (e instanceof ApiError && e.status === 403) return false;
    throw e;
  }
}

function notAllowed(view) {
  view.append(h('h2', {}, 'Audit log'),
    h('p', { class: 'notice', role: 'status', id: 'audit-forbidden' },
      'Your role cannot see the audit log. It is open to compliance and admin keys; ask one of them ' +
      'for the rows you need, or sign in with such a key.'));
}

// before -> after, one line per member that differs.
function change(before, after) {
  const b = before && typeof before === 'object' ? before : {};
  const a = after && typeof after === 'object' ? after : {};
  const keys = [...new Set([...Object.keys(b), ...Object.keys(a)])]
    .filter((k) => JSON.stringify(b[k] ?? null) !== JSON.stringify(a[k] ?? null));
  if (!keys.length) return h('td', { class: 'change empty', dataset: { label: 'Change' } }, '');
  return h('td', { class: 'change', dataset: { label: 'Change' } }, h('ul', { class: 'diff' }, ...keys.map((k) => h('li', {},
    h('span', { class: 'k' }, `${k}: `), h('del', {}, show(b[k]) || '—'), ' → ', h('ins', {}, show(a[k]) || '—')))));
}

const FIELDS = ['actor', 'action', 'target', 'from', 'to'];

// A golden record's row links to it (every role that reads the audit log reads entities).
function target(t) {
  const m = /^entity:(\d+)$/.exec(t || '');
  return m ? h('a', { href: `#/entity/${m[1]}` }, t) : t;
}

export async function renderAudit(view, params) {
  const input = (name, text, attrs = {}) => h('div', { class: 'f' }, h('label', { for: `a-${name}` }, text),
    h('input', { id: `a-${name}`, name, value: params.get(name) || '', ...attrs }));
  const form = h('form', { class: 'filters grid audit-filters', 'aria-label': 'Audit filters' },
    input('actor', 'Actor'),
    input('action', 'Action', { placeholder: 'entity. or review.decide' }),
    input('target', 'Target', { placeholder: 'entity:42' }),
    input('from', 'From (date)', { type: 'date' }),
    input('to', 'Before (date)', { type: 'date' }),
    h('button', { type: 'submit', class: 'primary' }, 'Filter'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams();
    for (const k of FIELDS) if (form[k].value.trim()) p.set(k, form[k].value.trim());
    location.hash = `#/audit?${p}`;
  });
  const limit = Math.min(1000, Math.max(1, Number(params.get('limit')) || 50));
  let res;
  try {
    res = await api.audit({
      actor: params.get('actor'), action: params.get('action'), target: params.get('target'),
      from: params.get('from'), to: params.get('to'), cursor: params.get('cursor'), limit,
    });
  } catch (e) {
    if (e instanceof ApiError && e.status === 403) {
      notAllowed(view);
      return;
    }
    throw e;
  }
  const rows = res.items || [];
  // the hash-chain check reads the whole log: it fills in its line when it is done, so
  // the rows are usable at once
  const chainLine = h('p', { role: 'status', id: 'audit-chain', class: 'muted' }, 'Checking the hash chain…');
  api.audit({ limit: 1, verify: 'true' }).then((v) => {
    const chain = v.chain || {};
    chainLine.className = chain.intact ? 'ok' : 'error';
    chainLine.textContent = chain.intact ? `Hash chain intact: ${chain.rows} rows, head ${String(chain.head).slice(0, 16)}…`
      : `Hash chain BROKEN: ${chain.problems} problem(s), first: ${chain.first}`;
  }).catch((e) => { chainLine.textContent = `Hash chain not checked: ${e.message}`; });
  const page = (cursor) => {
    const p = new URLSearchParams();
    for (const k of FIELDS) if (params.get(k)) p.set(k, params.get(k));
    if (params.get('limit')) p.set('limit', params.get('limit'));
    if (cursor) p.set('cursor', String(cursor));
    return `#/audit?${p}`;
  };
  view.append(...[h('h2', {}, 'Audit log'), form,
    chainLine,
    rows.length ? h('div', { class: 'scroll' }, h('table', { class: 'audit' },
      h('thead', {}, h('tr', {}, ...['#', 'When', 'Actor', 'Action', 'Target', 'Change (before → after)', 'Reason']
        .map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, ...rows.map((r) => h('tr', {},
        h('td', { dataset: { label: '#' } }, String(r.id)), h('td', { dataset: { label: 'When' } }, fmtTime(r.at)),
        h('td', { dataset: { label: 'Actor' } }, `${r.actor} (${r.role})`),
        h('td', { dataset: { label: 'Action' } }, r.action), h('td', { dataset: { label: 'Target' } }, target(r.target)),
        change(r.before, r.after), h('td', { dataset: { label: 'Reason' }, class: r.reason ? null : 'empty' }, r.reason || ''))))))
      : h('p', { id: 'audit-empty', class: 'muted' }, 'No audit row matches.'),
    h('nav', { class: 'pager', 'aria-label': 'Audit pages' },
      params.get('cursor') ? h('a', { href: page(null), id: 'audit-first' }, '← Newest') : null,
      res.next ? h('a', { href: page(res.next), id: 'audit-next' }, 'Older →') : null)].filter(Boolean));
}
