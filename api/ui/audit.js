// Audit view: the newest audit rows with filters, and the hash-chain check. The audit
// log is for compliance and admin keys: a steward key gets a plain explanation instead
// (and app.js hides the tab for it).
import { api, ApiError } from './api.js';
import { h, fmtTime } from './dom.js';

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

export async function renderAudit(view, params) {
  const form = h('form', { class: 'filters', 'aria-label': 'Audit filters' },
    h('label', { for: 'a-actor' }, 'Actor'), h('input', { id: 'a-actor', name: 'actor', value: params.get('actor') || '' }),
    h('label', { for: 'a-action' }, 'Action'), h('input', { id: 'a-action', name: 'action', value: params.get('action') || '',
      placeholder: 'entity. or review.decide' }),
    h('label', { for: 'a-target' }, 'Target'), h('input', { id: 'a-target', name: 'target', value: params.get('target') || '',
      placeholder: 'entity:42' }),
    h('button', { type: 'submit', class: 'primary' }, 'Filter'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams();
    for (const k of ['actor', 'action', 'target']) if (form[k].value.trim()) p.set(k, form[k].value.trim());
    location.hash = `#/audit?${p}`;
  });
  let res;
  try {
    res = await api.audit({
      actor: params.get('actor'), action: params.get('action'), target: params.get('target'), verify: 'true', limit: 100,
    });
  } catch (e) {
    if (e instanceof ApiError && e.status === 403) {
      notAllowed(view);
      return;
    }
    throw e;
  }
  const chain = res.chain || null;
  view.append(h('h2', {}, 'Audit log'), form,
    chain ? h('p', { class: chain.intact ? 'ok' : 'error', role: 'status' },
      chain.intact ? `Hash chain intact: ${chain.rows} rows, head ${String(chain.head).slice(0, 16)}…`
        : `Hash chain BROKEN: ${chain.problems} problem(s), first: ${chain.first}`) : null,
    h('table', { class: 'audit' },
      h('thead', {}, h('tr', {}, ...['#', 'When', 'Actor', 'Role', 'Action', 'Target', 'Reason'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, ...(res.items || []).map((r) => h('tr', {},
        h('td', {}, String(r.id)), h('td', {}, fmtTime(r.at)), h('td', {}, r.actor), h('td', {}, r.role),
        h('td', {}, r.action), h('td', {}, r.target), h('td', {}, r.reason || ''))))));
}
