// Queue view: the list of review items (filters, sort, paging) and, beside it, the
// selected item compared side by side with accept / reject / defer.
import { api, ApiError } from './api.js';
import { h, say, fail, show, same, pct, fmtTime } from './dom.js';

const state = {
  items: [],
  selected: null, // full item (with a, b, explanation)
  next: null,
  params: null,
  busy: false,
};

const DECISIONS = {
  match: { label: 'Accept (same person)', key: 'a', done: 'Accepted: the two sides are now one entity.' },
  no_match: { label: 'Reject (not the same)', key: 'r', done: 'Rejected: they will never be linked.' },
  defer: { label: 'Defer', key: 'd', done: 'Deferred.' },
};

function filters(params) {
  const status = params.get('status') || 'open,claimed';
  const sort = params.get('sort') || 'priority';
  const form = h('form', { class: 'filters', 'aria-label': 'Queue filters' },
    h('label', { for: 'f-status' }, 'Status'),
    h('select', { id: 'f-status', name: 'status' },
      ...[['open,claimed', 'To do'], ['open', 'Open'], ['claimed', 'Claimed'], ['deferred', 'Deferred'],
        ['decided', 'Decided'], ['superseded', 'Superseded']]
        .map(([v, t]) => h('option', { value: v, selected: v === status }, t))),
    h('label', { for: 'f-sort' }, 'Sort'),
    h('select', { id: 'f-sort', name: 'sort' },
      ...[['priority', 'Priority'], ['created', 'Oldest'], ['-created', 'Newest'],
        ['probability', 'Least likely'], ['-probability', 'Most likely']]
        .map(([v, t]) => h('option', { value: v, selected: v === sort }, t))));
  form.addEventListener('change', () => {
    const p = new URLSearchParams({ status: form.status.value, sort: form.sort.value });
    location.hash = `#/queue?${p}`;
  });
  return form;
}

function itemButton(it) {
  const active = state.selected && state.selected.id === it.id;
  return h('li', {},
    h('a', {
      href: `#/review/${it.id}?${state.params}`,
      class: `item${active ? ' active' : ''}`,
      'aria-current': active ? 'true' : null,
      dataset: { id: it.id },
    },
    h('span', { class: 'pair' }, `${it.a_label || '?'} ↔ ${it.b_label || '?'}`),
    h('span', { class: 'meta' },
      h('span', { class: 'prob', title: 'match probability' }, pct(it.probability)),
      h('span', { class: `badge ${it.status}` }, it.status),
      it.assignee ? h('span', { class: 'assignee' }, it.assignee) : null,
      h('span', { class: 'prio', title: 'priority' }, `P${Math.round(it.priority)}`))));
}

function renderList(listEl) {
  listEl.replaceChildren(
    ...(state.items.length ? state.items.map(itemButton) : [h('li', { class: 'empty' }, 'Nothing to review.')]));
}

// Rows of the comparison: every attribute either side has (canonical record or golden).
function compareRows(a, b, explanation) {
  const skip = new Set(['source', 'source_key', 'source_updated_at', 'keys', 'consents', 'op']);
  const names = [];
  for (const side of [a, b]) {
    for (const k of Object.keys((side && side.fields) || {})) if (!skip.has(k) && !names.includes(k)) names.push(k);
  }
  const weights = new Map();
  let max = 0;
  for (const e of explanation || []) {
    const w = Number(e.weight) || 0;
    max = Math.max(max, Math.abs(w));
    weights.set(e.field, e);
  }
  return { names, weights, max: max || 1 };
}

function bar(e, max) {
  if (!e) return h('span', { class: 'nobar' }, '');
  const w = Number(e.weight) || 0;
  const width = Math.round((Math.abs(w) / max) * 100);
  const b = h('span', {
      class: `bar ${w >= 0 ? 'pos' : 'neg'}`,
      role: 'meter',
      'aria-valuemin': String(-max.toFixed(2)),
      'aria-valuemax': String(max.toFixed(2)),
      'aria-valuenow': w.toFixed(2),
      'aria-label': `${e.field} weight`,
    });
  b.style.width = `${width}%`; // CSSOM, allowed by the page's Content-Security-Policy
  return h('span', { class: 'bar-wrap', title: `${e.level}: weight ${w.toFixed(2)}` },
    b, h('span', { class: 'bar-num' }, `${w >= 0 ? '+' : ''}${w.toFixed(1)}`));
}

function sideTitle(s) {
  if (!s) return 'missing';
  if (s.type === 'record') return `Record ${s.source}:${s.source_key}`;
  return `Entity ${s.entity_id} (${(s.members || []).length} records)`;
}

function sideLink(s) {
  if (!s) return null;
  const id = s.type === 'record' ? s.entity_id : s.entity_id;
  return id ? h('a', { href: `#/entity/${id}` }, `open entity ${id}`) : null;
}

function renderCompare(detailEl) {
  const it = state.selected;
  if (!it) {
    detailEl.replaceChildren(h('p', { class: 'hint' }, 'Select an item, or press j to start.'));
    return;
  }
  const { names, weights, max } = compareRows(it.a, it.b, it.explanation);
  const final = it.status === 'decided' || it.status === 'superseded';
  const rows = names.map((n) => {
    const va = it.a && it.a.fields ? it.a.fields[n] : undefined;
    const vb = it.b && it.b.fields ? it.b.fields[n] : undefined;
    const differ = !same(va, vb);
    return h('tr', { class: differ ? 'differ' : 'agree' },
      h('th', { scope: 'row' }, n.replace(/_/g, ' ')),
      h('td', {}, show(va)),
      h('td', {}, show(vb)),
      h('td', { class: 'w' }, bar(weights.get(n), max)),
      h('td', { class: 'flag' }, differ ? h('span', { class: 'sr' }, 'differs') : ''));
  });
  const evidence = (it.explanation || []).map((e) =>
    h('tr', {}, h('th', { scope: 'row' }, e.field), h('td', {}, e.level || ''), h('td', { class: 'w' }, bar(e, max))));

  const reason = h('input', { id: 'reason', name: 'reason', type: 'text', maxlength: '2000', placeholder: 'optional' });
  const buttons = Object.entries(DECISIONS).map(([d, info]) =>
    h('button', {
      type: 'button',
      class: `decide ${d}`,
      disabled: final,
      'aria-keyshortcuts': info.key,
      dataset: { decision: d },
      onclick: () => decide(d),
    }, info.label, ' ', h('kbd', {}, info.key)));

  detailEl.replaceChildren(
    h('h2', { id: 'cmp-title' }, `Review item ${it.id}`),
    h('p', { class: 'summary' },
      `${it.kind === 'record_entity' ? 'Does this record belong to this entity?' : 'Are these two entities one person?'} `,
      h('strong', {}, `Probability ${pct(it.probability)}`), `, score ${Number(it.score).toFixed(2)}, `,
      h('span', { class: `badge ${it.status}` }, it.status),
      it.assignee ? ` claimed by ${it.assignee}` : '',
      ` · version ${it.version} · created ${fmtTime(it.created_at)}`),
    h('table', { class: 'compare', 'aria-labelledby': 'cmp-title' },
      h('caption', { class: 'sr' }, 'Side-by-side comparison; differing fields are highlighted'),
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col' }, 'Field'),
        h('th', { scope: 'col' }, sideTitle(it.a), ' ', sideLink(it.a)),
        h('th', { scope: 'col' }, sideTitle(it.b), ' ', sideLink(it.b)),
        h('th', { scope: 'col' }, 'Weight'),
        h('th', { scope: 'col' }, h('span', { class: 'sr' }, 'Differs')))),
      h('tbody', {}, ...rows)),
    evidence.length ? h('details', { class: 'evidence', open: true },
      h('summary', {}, 'Evidence: each comparison and its match weight'),
      h('table', { class: 'compare' },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Comparison'), h('th', { scope: 'col' }, 'Level'),
          h('th', { scope: 'col' }, 'Weight'))),
        h('tbody', {}, ...evidence))) : null,
    final ? h('p', { class: 'hint' }, `This item is ${it.status}${it.reason ? `: ${it.reason}` : ''}.`)
      : h('form', { class: 'decide-form', 'aria-label': 'Decision', onsubmit: (e) => e.preventDefault() },
        h('label', { for: 'reason' }, 'Reason'), reason,
        h('div', { class: 'buttons' }, ...buttons,
          h('button', { type: 'button', class: 'claim', 'aria-keyshortcuts': 'c', onclick: claim,
            disabled: !!it.assignee }, 'Claim ', h('kbd', {}, 'c')))));
}

async function loadItem(id) {
  state.selected = await api.item(id);
  renderCompare(document.getElementById('detail'));
  renderList(document.getElementById('queue-list'));
}

async function reloadList() {
  const p = new URLSearchParams(state.params);
  const res = await api.queue({ status: p.get('status'), sort: p.get('sort'), limit: 50 });
  state.items = res.items || [];
  state.next = res.next || null;
  renderList(document.getElementById('queue-list'));
  const more = document.getElementById('more');
  if (more) more.hidden = !state.next;
}

async function loadMore() {
  const p = new URLSearchParams(state.params);
  const res = await api.queue({ status: p.get('status'), sort: p.get('sort'), limit: 50, cursor: state.next });
  state.items = state.items.concat(res.items || []);
  state.next = res.next || null;
  renderList(document.getElementById('queue-list'));
  document.getElementById('more').hidden = !state.next;
}

async function claim() {
  const it = state.selected;
  if (!it || state.busy) return;
  state.busy = true;
  try {
    await api.claim(it.id, it.version);
    say(`Claimed item ${it.id}.`);
    await loadItem(it.id);
    await reloadList();
  } catch (e) {
    fail(e);
  } finally {
    state.busy = false;
  }
}

async function decide(decision) {
  const it = state.selected;
  if (!it || state.busy) return;
  const final = it.status === 'decided' || it.status === 'superseded';
  if (final) return;
  state.busy = true;
  const reasonEl = document.getElementById('reason');
  const reason = reasonEl ? reasonEl.value.trim() : '';
  try {
    const res = await api.decide(it.id, it.version, decision, reason);
    say(`${DECISIONS[decision].done}${res && res.entity_id ? ` Entity ${res.entity_id}.` : ''}`);
    const idx = state.items.findIndex((x) => x.id === it.id);
    await reloadList();
    const next = state.items[Math.min(idx < 0 ? 0 : idx, state.items.length - 1)];
    if (next) location.hash = `#/review/${next.id}?${state.params}`;
    else {
      state.selected = null;
      renderCompare(document.getElementById('detail'));
    }
  } catch (e) {
    if (e instanceof ApiError && e.status === 409) {
      say(`Conflict: ${e.message}. The item was reloaded; check it and decide again.`, 'error');
      try {
        await loadItem(it.id);
        await reloadList();
      } catch (e2) {
        fail(e2);
      }
    } else {
      fail(e);
    }
  } finally {
    state.busy = false;
  }
}

function move(delta) {
  if (!state.items.length) return;
  const idx = state.selected ? state.items.findIndex((x) => x.id === state.selected.id) : -1;
  const next = state.items[Math.max(0, Math.min(state.items.length - 1, idx + delta))];
  if (next) location.hash = `#/review/${next.id}?${state.params}`;
}

// Keyboard shortcuts of the queue view; true when the key was used.
export function queueKey(key) {
  if (key === 'j') { move(1); return true; }
  if (key === 'k') { move(-1); return true; }
  if (key === 'c') { claim(); return true; }
  for (const [d, info] of Object.entries(DECISIONS)) {
    if (key === info.key && state.selected) { decide(d); return true; }
  }
  return false;
}

export async function renderQueue(view, itemId, params) {
  const p = new URLSearchParams();
  if (params.get('status')) p.set('status', params.get('status'));
  if (params.get('sort')) p.set('sort', params.get('sort'));
  state.params = p.toString();
  view.append(
    h('div', { class: 'queue-layout' },
      h('section', { class: 'queue-pane', 'aria-labelledby': 'queue-title' },
        h('h2', { id: 'queue-title' }, 'Review queue'),
        filters(params),
        h('ol', { id: 'queue-list', class: 'queue-list', 'aria-label': 'Review items' }),
        h('button', { type: 'button', id: 'more', class: 'link', hidden: true, onclick: () => loadMore().catch(fail) },
          'Load more')),
      h('section', { id: 'detail', class: 'detail-pane', 'aria-live': 'polite', 'aria-label': 'Selected item' })));
  await reloadList();
  if (itemId) await loadItem(itemId);
  else {
    state.selected = null;
    renderCompare(document.getElementById('detail'));
  }
}
