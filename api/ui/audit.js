// Audit view: the newest audit rows with filters, and the hash-chain check.
import { api } from './api.js';
import { h, fmtTime } from './dom.js';

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
  const res = await api.audit({
    actor: params.get('actor'), action: params.get('action'), target: params.get('target'), verify: 'true', limit: 100,
  });
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
