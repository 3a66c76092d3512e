// Queue view: the list of review items (counts, filters, paging, competing candidates
// grouped, bulk decisions) and, beside it, the selected item: the decision bar first
// (visible without scrolling), what the decision will do, each comparison with both
// values and its weight, both golden records and every member source record.
import { api, ApiError } from './api.js';
import { h, say, fail, show, pct, fmtTime, label, breakable, relatedList } from './dom.js';

const state = {
  items: [],
  counts: null,
  selected: null, // full item (a, b, explanation, competing)
  next: null,
  params: '', // the list's filters, as in the address
  checked: new Set(), // ids selected for a bulk decision
  busy: false,
};

const DECISIONS = {
  match: { label: 'Accept (same person)', key: 'a', done: 'Accepted: the two sides are now one entity.' },
  no_match: { label: 'Reject (not the same)', key: 'r', done: 'Rejected: they will never be linked.' },
  defer: { label: 'Defer', key: 'd', done: 'Deferred.' },
};

const BANDS = [['', 'Any probability'], ['0.9-1', '90% and more'], ['0.7-0.9', '70–90%'], ['0.5-0.7', '50–70%'],
  ['0-0.5', 'below 50%']];
const AGES = [['', 'Any age'], ['-1', 'less than a day'], ['1-7', '1 to 7 days'], ['7-', 'over 7 days']];
// the golden records' (or the record's) completeness (docs/QUALITY.md): min-max
const QUALITY = [['', 'Any completeness'], ['-0.5', 'at most 50%'], ['0.5-0.8', '50–80%'], ['0.8-', '80% and more']];
const FILTER_KEYS = ['status', 'sort', 'band', 'source', 'age', 'quality', 'who'];

// The API query of the list filters in the address.
function listQuery(p) {
  const q = { status: p.get('status') || 'open,claimed', sort: p.get('sort') || 'priority' };
  const band = p.get('band');
  if (band) [q.min_probability, q.max_probability] = band.split('-');
  const age = p.get('age');
  if (age) [q.min_age_days, q.max_age_days] = age.split('-');
  const quality = p.get('quality');
  if (quality) [q.min_completeness, q.max_completeness] = quality.split('-');
  if (p.get('source')) q.source = p.get('source');
  if (p.get('who') === 'mine') q.assignee = 'me';
  if (p.get('who') === 'unclaimed') q.assignee = '-';
  return q;
}

function filters(params) {
  const c = state.counts || {};
  const by = c.by_status || {};
  const status = params.get('status') || 'open,claimed';
  const n = (k) => (k.split(',').reduce((s, x) => s + (by[x] || 0), 0));
  const sel = (id, name, options, value, text) => [h('div', { class: 'f' }, h('label', { for: id }, text),
    h('select', { id, name }, ...options.map(([v, t]) => h('option', { value: v, selected: v === value }, t))))];
  const form = h('form', { class: 'filters grid', 'aria-label': 'Queue filters' },
    ...sel('f-status', 'status', [['open,claimed', 'To do'], ['open', 'Open'], ['claimed', 'Claimed'],
      ['deferred', 'Deferred'], ['decided', 'Decided'], ['superseded', 'Superseded']]
      .map(([v, t]) => [v, `${t} (${n(v)})`]), status, 'Status'),
    ...sel('f-band', 'band', BANDS, params.get('band') || '', 'Probability'),
    ...sel('f-source', 'source', [['', 'Any source']].concat((c.sources || []).map((s) => [s.code, s.name])),
      params.get('source') || '', 'Source'),
    ...sel('f-age', 'age', AGES, params.get('age') || '', 'Age'),
    ...sel('f-quality', 'quality', QUALITY, params.get('quality') || '', 'Completeness'),
    ...sel('f-who', 'who', [['', 'Anyone'], ['mine', `Mine (${c.mine ?? 0})`], ['unclaimed', `Unclaimed (${c.unclaimed ?? 0})`]],
      params.get('who') || '', 'Claimed by'),
    ...sel('f-sort', 'sort', [['priority', 'Priority'], ['created', 'Oldest'], ['-created', 'Newest'],
      ['probability', 'Least likely'], ['-probability', 'Most likely']], params.get('sort') || 'priority', 'Sort'));
  form.addEventListener('change', () => {
    const p = new URLSearchParams();
    for (const k of FILTER_KEYS) if (form[k] && form[k].value) p.set(k, form[k].value);
    location.hash = `#/queue?${p}`;
  });
  return form;
}

function itemRow(it) {
  const active = state.selected && state.selected.id === it.id;
  return h('li', { class: 'row' },
    h('input', { type: 'checkbox', class: 'pick', 'aria-label': `Select item ${it.id}`, checked: state.checked.has(it.id),
      onchange: (ev) => { if (ev.target.checked) state.checked.add(it.id); else state.checked.delete(it.id); renderBulk(); } }),
    h('a', {
      href: `#/review/${it.id}?${state.params}`,
      class: `item${active ? ' active' : ''}`,
      'aria-current': active ? 'true' : null,
      dataset: { id: it.id },
    },
    h('span', { class: 'pair' }, `${it.a_label || '?'} ↔ ${it.b_label || '?'}`),
    h('span', { class: 'meta' },
      h('span', { class: 'prob', title: 'match probability' }, pct(it.probability)),
      h('span', { class: `badge ${it.status}` }, it.decision ? `${it.status}: ${it.decision.replace('_', ' ')}` : it.status),
      guardBadge(it.guard),
      it.assignee ? h('span', { class: 'assignee' }, it.assignee) : null,
      h('span', { class: 'when', title: 'created' }, fmtTime(it.created_at)))));
}

// Items proposing the same record (or entity pair) sit together under one heading.
function groups(items) {
  const key = (it) => (it.record_id ? `r${it.record_id}` : `e${Math.min(it.entity_id, it.other_entity_id)}`);
  const order = [];
  const by = new Map();
  for (const it of items) {
    const k = key(it);
    if (!by.has(k)) { by.set(k, []); order.push(k); }
    by.get(k).push(it);
  }
  return order.map((k) => by.get(k));
}

function renderList() {
  const listEl = document.getElementById('queue-list');
  if (!listEl) return;
  const rows = [];
  for (const g of groups(state.items)) {
    if (g.length > 1) {
      rows.push(h('li', { class: 'group' }, h('span', {}, `${g.length} candidates for ${g[0].a_label || 'one record'}`),
        h('ul', { class: 'grouped' }, ...g.map(itemRow))));
    } else rows.push(itemRow(g[0]));
  }
  listEl.replaceChildren(...(rows.length ? rows : [h('li', { class: 'empty' }, 'Nothing to review.')]));
  const c = state.counts;
  const shown = document.getElementById('queue-count');
  if (shown && c) shown.textContent = `${state.items.length} of ${c.total} shown · ${c.mine} mine · ${c.unclaimed} unclaimed`;
  const more = document.getElementById('more');
  if (more) more.hidden = !state.next;
  renderBulk();
}

function renderBulk() {
  const bar = document.getElementById('bulk');
  if (!bar) return;
  const n = state.checked.size;
  bar.hidden = n === 0;
  bar.querySelector('.n').textContent = `${n} selected`;
  const all = document.getElementById('pick-all');
  if (all) {
    all.checked = n > 0 && n === state.items.length;
    all.indeterminate = n > 0 && n < state.items.length;
    all.disabled = state.items.length === 0;
  }
}

// One request for every ticked item; the items that failed (a stale version, claimed by
// someone else) stay ticked, with their current versions, so they can be looked at and
// decided again.
async function bulkDecide(decision, button) {
  const picked = state.items.filter((it) => state.checked.has(it.id));
  if (!picked.length) return;
  const res = await api.bulk(picked.map((it) => ({ id: it.id, version: it.version, decision })));
  const errors = (res.results || []).filter((r) => r.error);
  state.checked = new Set(errors.map((r) => r.id));
  await reloadList();
  if (errors.length) {
    const why = errors.map((r) => `item ${r.id}: ${r.error.detail || r.error.title}`).join('; ');
    say(`${picked.length - errors.length} of ${picked.length} decided (${decision.replace('_', ' ')}); ` +
      `${errors.length} failed and stay selected: ${why}`, 'error');
  } else say(`${picked.length} items decided (${decision.replace('_', ' ')}).`);
  if (button.isConnected) button.focus();
}

// Ticks (or unticks) every item shown.
function pickAll(on) {
  state.checked = on ? new Set(state.items.map((it) => it.id)) : new Set();
  renderList();
}

// ---- the selected item ------------------------------------------------------------

// Why a pair the score alone would link sits in review: a hard negative (issue 15) the
// matcher never links on its own, named by the scorer in the explanation's "guard".
const GUARD_TEXT = {
  twins: ['possible twins', 'Same birth date and household, different first names: twins are never linked automatically'],
  generation: ['Sr/Jr', 'Generational suffixes differ (Sr/Jr, II/III): never linked automatically'],
  birth_years: ['birth years apart', 'Birth years decades apart: never linked automatically'],
  household: ['household only', 'Only what a household shares (surname, address, phone) agrees: relatives are not one person'],
  bridge: ['bridge', 'The record matches two golden records and lacks what tells them apart (such as a birth date)'],
};
const guardBadge = (g) => (g && GUARD_TEXT[g]
  ? h('span', { class: 'badge guard', title: GUARD_TEXT[g][1], dataset: { guard: g } }, `held: ${GUARD_TEXT[g][0]}`) : null);

const LEVEL_TEXT = { exact: 'same', close: 'close', far: 'far', different: 'different', null: 'missing on one side' };

function bar(c, max) {
  const w = Number(c.weight) || 0;
  const width = Math.round((Math.abs(w) / max) * 100);
  const b = h('span', {
    class: `bar ${w >= 0 ? 'pos' : 'neg'}`,
    role: 'meter',
    'aria-valuemin': String(-max.toFixed(2)),
    'aria-valuemax': String(max.toFixed(2)),
    'aria-valuenow': w.toFixed(2),
    'aria-label': `${label(c.comparison)} weight`,
  });
  b.style.width = `${width}%`; // CSSOM, allowed by the page's Content-Security-Policy
  return h('span', { class: 'bar-wrap', title: `${c.level}: weight ${w.toFixed(2)}` },
    b, h('span', { class: 'bar-num' }, `${w >= 0 ? '+' : ''}${w.toFixed(1)}`));
}

// A comparison's agreement: values compared by the matcher (normalized), not as text.
function agreement(c) {
  if (c.level === 'null' || c.value_a === null || c.value_b === null) return 'missing';
  if (c.level === 'exact') return 'agree';
  if (c.level === 'close' || c.level === 'nickname' || c.level === 'initial') return 'close';
  return 'differ';
}

function comparisonTable(it) {
  const ex = it.explanation || {};
  const comps = ex.comparisons || [];
  const max = Math.max(1, ...comps.map((c) => Math.abs(Number(c.weight) || 0)));
  const side = (s) => (s && s.type === 'record' ? [s.source_name || s.source, h('br'), `${s.source}:${s.source_key}`]
    : `entity ${s && s.entity_id}`);
  return h('div', {}, h('div', { class: 'scroll' }, h('table', { class: 'compare', id: 'comparisons', 'aria-labelledby': 'cmp-title' },
    h('caption', { class: 'sr' }, 'Each comparison the matcher made, both values as it compared them, and its weight'),
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col' }, 'Comparison'), h('th', { scope: 'col' }, side(it.a)), h('th', { scope: 'col' }, side(it.b)),
      h('th', { scope: 'col' }, 'Result'), h('th', { scope: 'col' }, 'Weight'))),
    h('tbody', {}, ...comps.map((c) => {
      const a = agreement(c);
      return h('tr', { class: a, dataset: { comparison: c.comparison } },
        h('th', { scope: 'row' }, label(c.comparison), c.group ? h('span', { class: 'group-tag', title: `counted with the other ${c.group} fields (see the cap below)` }, ` ${c.group}`) : null),
        h('td', {}, c.value_a === null || c.value_a === undefined ? h('span', { class: 'muted' }, '—') : breakable(c.value_a)),
        h('td', {}, c.value_b === null || c.value_b === undefined ? h('span', { class: 'muted' }, '—') : breakable(c.value_b)),
        h('td', { class: 'level' }, LEVEL_TEXT[c.level] || c.level),
        h('td', { class: 'w' }, bar(c, max)));
    })))), weightParts(ex, comps));
}

const signed = (w) => `${w >= 0 ? '+' : '−'}${Math.abs(w).toFixed(1)}`;

// How the match weight arises from the comparisons: their sum, the evidence-group caps
// (fields a household shares count together at most up to even odds), the prior, and the
// probability. Each part carries its exact value in data-w.
function weightParts(ex, comps) {
  const sum = comps.reduce((s, c) => s + (Number(c.weight) || 0), 0);
  const part = (id, text, w, cls) => h('tr', { class: cls || null, dataset: { part: id, w: String(w) } },
    h('th', { scope: 'row' }, text), h('td', { class: 'num' }, signed(w)));
  const rows = [part('sum', 'Sum of the weights above', sum)];
  const adj = Number(ex.group_cap_adjustment) || 0;
  if (adj !== 0) {
    const groups = [...new Set(comps.filter((c) => c.group).map((c) => c.group))];
    const members = comps.filter((c) => c.group);
    const gsum = members.reduce((s, c) => s + (Number(c.weight) || 0), 0);
    const names = members.map((c) => label(c.comparison)).join(', ');
    const g = groups.join(' and ') || 'evidence group';
    const text = adj < 0
      ? `${g} cap: ${names || 'the fields a household shares'} add up to ${signed(gsum)}, but count at most ` +
        `${typeof ex.group_cap === 'number' ? signed(ex.group_cap) : 'up to even odds'}: relatives share a surname, ` +
        'address and phone, so only person evidence (first name, birth date, e-mail, ids) can take a pair past even odds'
      : `${g} floor: ${names || 'the fields a household shares'} disagree together (a move changes them all), ` +
        'so they count as their strongest single disagreement';
    rows.push(part('cap', text.charAt(0).toUpperCase() + text.slice(1), adj, 'cap'));
  }
  if (typeof ex.prior_weight === 'number') {
    rows.push(part('prior', 'Prior: before any evidence, two candidate records are rarely the same person', ex.prior_weight));
  }
  const total = typeof ex.match_weight === 'number' ? ex.match_weight : null;
  rows.push(h('tr', { class: 'total', dataset: { part: 'total', w: String(total) } },
    h('th', { scope: 'row' }, ex.vetoed
      ? 'Match weight — vetoed: a strong identifier conflicts, so the pair is not linked whatever the weight'
      : `Match weight${typeof ex.probability === 'number' ? ` (probability ${pct(ex.probability)})` : ''}`),
    h('td', { class: 'num' }, total === null ? '' : signed(total))));
  return h('table', { class: 'weight-parts', id: 'weight-parts' },
    h('caption', { class: 'sr' }, 'How the match weight arises'), h('tbody', {}, ...rows));
}

const plural = (n, what) => `${n} ${what}${n === 1 ? '' : 's'}`;

// The entity behind a side: the entity itself, or the golden record holding the record.
const entityOf = (s) => (s && s.type === 'record' ? s.entity : s);

// Attribute rows of golden records / source records side by side.
const SKIP = new Set(['source', 'source_key', 'source_updated_at', 'keys', 'consents', 'op', 'attributes', 'issues']);
function attrNames(objs) {
  const names = [];
  for (const o of objs) for (const k of Object.keys(o || {})) if (!SKIP.has(k) && !names.includes(k)) names.push(k);
  return names;
}

// Every value one side holds for attr (golden record and member records), in a loose
// comparison form (case, spacing and punctuation ignored), one per list element.
function held(e, attr) {
  const out = new Set();
  const add = (v) => {
    if (v === undefined || v === null || v === '') return;
    if (Array.isArray(v)) { v.forEach(add); return; }
    const t = show(v).toLowerCase().replace(/\([^)]*\)/g, '').replace(/[^\p{L}\p{N}]+/gu, '');
    if (t) out.add(t);
  };
  if (!e) return out;
  add((e.fields || {})[attr]);
  for (const m of e.members || []) add((m.fields || {})[attr]);
  return out;
}

// agree: the sides share a value; missing: one side has none; differ: no value in common.
function holding(ea, eb, attr) {
  const a = held(ea, attr);
  const b = held(eb, attr);
  if (!a.size || !b.size) return 'missing';
  for (const v of a) if (b.has(v)) return 'agree';
  return 'differ';
}

function goldenPair(it) {
  const ea = entityOf(it.a);
  const eb = entityOf(it.b);
  const ga = (ea && ea.fields) || {};
  const gb = (eb && eb.fields) || {};
  const head = (e) => (e ? h('span', {}, h('a', { href: `#/entity/${e.entity_id}` }, `Entity ${e.entity_id}`),
    h('span', { class: 'muted' }, ` · ${plural((e.members || []).length, 'record')} · updated ${fmtTime(e.updated_at)}`)) : 'none');
  return h('div', {}, h('h3', { class: 'sub' }, 'Golden records'),
    h('p', { class: 'muted note' }, 'A value both sides hold, in the golden record or in any source record, counts as agreement.'),
    h('div', { class: 'scroll' }, h('table', { class: 'golden-pair compare', id: 'goldens', 'aria-label': 'Golden records' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Attribute'), h('th', { scope: 'col' }, head(ea)),
      h('th', { scope: 'col' }, head(eb)))),
    h('tbody', {}, ...attrNames([ga, gb]).map((n) => h('tr', { class: holding(ea, eb, n), dataset: { attr: n } },
      h('th', { scope: 'row' }, label(n)), h('td', {}, breakable(show(ga[n]))), h('td', {}, breakable(show(gb[n])))))))));
}

// Every member source record of one entity: one column per record.
function membersTable(title, e, highlight) {
  const ms = (e && e.members) || [];
  if (!ms.length) return null;
  const names = attrNames(ms.map((m) => m.fields));
  return h('div', { class: 'scroll' }, h('table', { class: 'sources' },
    h('caption', {}, title),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Attribute'), ...ms.map((m) => h('th', {
      scope: 'col', class: m.record_id === highlight ? 'proposed' : null,
    }, h('span', { class: 'src-name' }, m.source_name || m.source), h('br'), `${m.source}:${m.source_key}`, h('br'),
    h('span', { class: 'muted' }, `updated ${fmtTime(m.source_updated_at || m.received_at)}`))))),
    h('tbody', {}, ...names.map((n) => h('tr', {}, h('th', { scope: 'row' }, label(n)),
      ...ms.map((m) => h('td', { class: m.record_id === highlight ? 'proposed' : null }, show((m.fields || {})[n]))))))));
}

// What each decision would do, in the steward's words.
function effects(it) {
  const ea = entityOf(it.a);
  const eb = it.b;
  const nb = (eb && eb.members || []).length;
  if (it.kind === 'record_entity') {
    const rec = it.a ? `${it.a.source}:${it.a.source_key}` : 'the record';
    const alone = ea && (ea.members || []).length <= 1;
    return {
      match: alone
        ? `Accept: entity ${ea.entity_id} (only ${rec}) merges into entity ${eb.entity_id}, which then holds ${nb + 1} records.`
        : `Accept: ${rec} moves from entity ${ea ? ea.entity_id : '?'} to entity ${eb.entity_id}; the ${(ea.members || []).length - 1} other records stay.`,
      no_match: `Reject: ${rec} is never linked to the ${nb} records of entity ${eb.entity_id}; nothing moves.`,
    };
  }
  const na = (ea && ea.members || []).length;
  const keep = Math.min(ea.entity_id, eb.entity_id);
  return {
    match: `Accept: entities ${ea.entity_id} and ${eb.entity_id} merge into entity ${keep} (${na + nb} records); the merge can be undone from its history.`,
    no_match: `Reject: the ${na} records of entity ${ea.entity_id} are never linked to the ${nb} of entity ${eb.entity_id}.`,
  };
}

function decisionBar(it) {
  const final = it.status === 'decided' || it.status === 'superseded';
  if (final) {
    const outcome = it.status === 'superseded' ? 'Superseded: its evidence changed before a decision'
      : `Decided: ${it.decision === 'match' ? 'match' : it.decision === 'no_match' ? 'no match' : it.decision}`;
    return h('div', { class: 'decision-bar decided', id: 'outcome', role: 'group', 'aria-label': 'Outcome' },
      h('p', {}, h('strong', {}, outcome),
        it.decided_by ? ` by ${it.decided_by}` : '', it.decided_at ? ` on ${fmtTime(it.decided_at)}` : '',
        it.reason ? ` · “${it.reason}”` : ''),
      it.status === 'decided' ? h('button', { type: 'button', id: 'reopen', onclick: (ev) => reopen(ev.currentTarget) },
        'Reopen decision') : null);
  }
  const fx = effects(it);
  const reason = h('input', { id: 'reason', name: 'reason', type: 'text', maxlength: '2000', placeholder: 'optional' });
  const buttons = Object.entries(DECISIONS).map(([d, info]) => h('button', {
    type: 'button', class: `decide ${d}`, 'aria-keyshortcuts': info.key, dataset: { decision: d },
    onclick: () => decide(d),
  }, info.label, ' ', h('kbd', {}, info.key)));
  return h('form', { class: 'decision-bar', 'aria-label': 'Decision', onsubmit: (e) => e.preventDefault() },
    h('div', { class: 'buttons' }, ...buttons,
      it.assignee
        ? h('button', { type: 'button', class: 'claim', onclick: (ev) => release(ev.currentTarget) }, 'Release claim')
        : h('button', { type: 'button', class: 'claim', 'aria-keyshortcuts': 'c', onclick: claim }, 'Claim ', h('kbd', {}, 'c'))),
    h('div', { class: 'reason-row' }, h('label', { for: 'reason' }, 'Reason'), reason),
    h('ul', { class: 'effects', id: 'effects' }, h('li', {}, fx.match), h('li', {}, fx.no_match),
      h('li', {}, 'Defer: the item stays in the queue as deferred.')),
  );
}

function competing(it) {
  const others = it.competing || [];
  if (!others.length) return null;
  return h('p', { class: 'competing', id: 'competing' },
    `${others.length} other candidate${others.length > 1 ? 's' : ''} for the same ${it.kind === 'record_entity' ? 'record' : 'entities'}: `,
    ...others.map((o, i) => [i ? ', ' : '', h('a', { href: `#/review/${o.id}?${state.params}` },
      `item ${o.id} (entity ${o.entity_id}, ${pct(o.probability)}, ${o.status})`)]));
}

// The related golden records of both sides (household, same address, steward-asserted):
// context for the decision, never part of the evidence. Two sides in one household are
// said first: relatives share surname, address and phone without being one person.
function relatedSides(it) {
  const ea = entityOf(it.a);
  const eb = it.b;
  if (!ea && !eb) return null;
  const together = ea && eb && (ea.related || []).find((r) => r.entity_id === eb.entity_id);
  const block = (e) => (e ? h('div', { class: 'related-side' },
    h('h4', {}, `Entity ${e.entity_id}`), relatedList(e.related || [])) : null);
  return h('section', { class: 'related-pair', id: 'related', 'aria-labelledby': 'related-title' },
    h('h3', { id: 'related-title' }, 'Related records'),
    together ? h('p', { class: 'notice', id: 'related-together' },
      `Entities ${ea.entity_id} and ${eb.entity_id} are related (${together.type.replace('_', ' ')}): `,
      'relatives share a surname, an address and a phone without being one person.') : null,
    h('div', { class: 'related-grid' }, block(ea), block(eb)));
}

function renderItem() {
  const detailEl = document.getElementById('detail');
  if (!detailEl) return;
  const it = state.selected;
  if (!it) {
    detailEl.replaceChildren(h('p', { class: 'hint' }, 'Select an item, or press j to start.'));
    return;
  }
  const question = it.kind === 'record_entity'
    ? `Does record ${it.a ? `${it.a.source}:${it.a.source_key}` : it.record_id} belong to entity ${it.entity_id}?`
    : `Are entities ${it.entity_id} and ${it.other_entity_id} one person?`;
  detailEl.replaceChildren(...[
    h('h2', { id: 'cmp-title' }, `Review item ${it.id}`),
    h('p', { class: 'summary' }, question, ' ', h('strong', {}, `Probability ${pct(it.probability)}`), ' · ',
      h('span', { class: `badge ${it.status}` }, it.status),
      GUARD_TEXT[it.guard] ? [' · ', guardBadge(it.guard), ' ', h('span', { class: 'guard-why' }, GUARD_TEXT[it.guard][1])] : null,
      it.assignee && it.status !== 'decided' && it.status !== 'superseded' ? ` claimed by ${it.assignee}` : '',
      h('span', { class: 'muted' }, ` · version ${it.version} · created ${fmtTime(it.created_at)}`)),
    decisionBar(it),
    competing(it),
    comparisonTable(it),
    goldenPair(it),
    membersTable(`Source records of entity ${entityOf(it.a) ? entityOf(it.a).entity_id : '?'}`, entityOf(it.a),
      it.kind === 'record_entity' ? it.record_id : null),
    membersTable(`Source records of entity ${it.b ? it.b.entity_id : '?'}`, it.b, null),
    relatedSides(it)].filter(Boolean));
  detailEl.closest('.queue-layout').classList.add('has-item');
  state.rendered = it.id;
}

async function loadItem(id) {
  state.selected = await api.item(id);
  const i = state.items.findIndex((x) => x.id === id);
  if (i >= 0) state.items[i] = { ...state.items[i], status: state.selected.status, version: state.selected.version, assignee: state.selected.assignee };
  renderItem();
  renderList();
}

async function reloadList() {
  const p = new URLSearchParams(state.params);
  const res = await api.queue({ ...listQuery(p), limit: 50 });
  state.items = res.items || [];
  state.counts = res.counts || null;
  state.next = res.next || null;
  for (const id of [...state.checked]) if (!state.items.some((x) => x.id === id)) state.checked.delete(id);
  const form = document.querySelector('form.filters[aria-label="Queue filters"]');
  if (form) form.replaceWith(filters(p));
  renderList();
}

async function loadMore() {
  const p = new URLSearchParams(state.params);
  const res = await api.queue({ ...listQuery(p), limit: 50, cursor: state.next });
  state.items = state.items.concat(res.items || []);
  state.next = res.next || null;
  renderList();
}

async function claim() {
  const it = state.selected;
  if (!it || state.busy || state.rendered !== it.id) return;
  if (it.assignee) { // already held: nothing to send, nothing to audit
    say(`Item ${it.id} is already claimed by ${it.assignee}.`);
    return;
  }
  state.busy = true;
  try {
    await api.claim(it.id, it.version);
    say(`Claimed item ${it.id}.`);
    await loadItem(it.id);
  } catch (e) {
    fail(e);
  } finally {
    state.busy = false;
  }
}

async function release(button) {
  const it = state.selected;
  if (!it || state.busy) return;
  state.busy = true;
  try {
    await api.release(it.id, it.version);
    say(`Released item ${it.id}.`);
    await loadItem(it.id);
  } catch (e) {
    fail(e);
  } finally {
    state.busy = false;
    if (button.isConnected) button.focus();
  }
}

async function reopen(button) {
  const it = state.selected;
  if (!it || state.busy) return;
  state.busy = true;
  button.disabled = true;
  try {
    await api.reopen(it.id, it.version, 'reopened from the review screen');
    say(`Item ${it.id} reopened.`);
    await loadItem(it.id);
  } catch (e) {
    fail(e);
  } finally {
    state.busy = false;
    if (button.isConnected) button.disabled = false;
  }
}

async function decide(decision) {
  const it = state.selected;
  // only the item on screen is ever decided
  if (!it || state.busy || state.rendered !== it.id) return;
  if (it.status === 'decided' || it.status === 'superseded') {
    say(`Item ${it.id} is already ${it.status}; reopen it first.`, 'error');
    return;
  }
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
      renderItem();
    }
  } catch (e) {
    if (e instanceof ApiError && e.status === 409) {
      say(`Conflict: ${e.message}. The item was reloaded; check it and decide again.`, 'error');
      try {
        await loadItem(it.id);
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

// The queue's filters are kept for the browser tab: the Queue link of every screen
// leads back to the list as the steward left it.
const SAVED = 'mdm.steward.queue';
export function queueLinks() {
  const saved = sessionStorage.getItem(SAVED) || '';
  for (const a of document.querySelectorAll('a[data-queue-link]')) a.setAttribute('href', `#/queue${saved ? `?${saved}` : ''}`);
}

function remember(params) {
  if (params) sessionStorage.setItem(SAVED, params);
  else sessionStorage.removeItem(SAVED);
  queueLinks();
}

function filterString(params) {
  const p = new URLSearchParams();
  for (const k of FILTER_KEYS) if (params.get(k)) p.set(k, params.get(k));
  return p.toString();
}

// Moving to another item of the list on screen (j, k, a click) loads only that item:
// true when the queue view already shows the list of these filters.
export async function queueShowItem(itemId, params) {
  if (!document.getElementById('queue-list') || filterString(params) !== state.params) return false;
  if (itemId) await loadItem(itemId);
  return true;
}

export async function renderQueue(view, itemId, params) {
  state.params = filterString(params);
  remember(state.params);
  state.checked.clear();
  const bulk = h('div', { id: 'bulk', class: 'bulk', hidden: true, role: 'group', 'aria-label': 'Bulk decision' },
    h('span', { class: 'n' }, ''),
    ...Object.entries(DECISIONS).map(([d, info]) => h('button', {
      type: 'button', class: `decide ${d}`, 'aria-label': `${info.label.split(' ')[0]} selected`,
      onclick: (ev) => { const b = ev.currentTarget; b.disabled = true; bulkDecide(d, b).catch(fail).finally(() => { b.disabled = false; }); },
    }, info.label.split(' ')[0])));
  view.append(
    h('div', { class: 'queue-layout' },
      h('section', { class: 'queue-pane', 'aria-labelledby': 'queue-title' },
        h('h2', { id: 'queue-title' }, 'Review queue'),
        h('p', { id: 'queue-count', class: 'muted', role: 'status' }),
        h('form', { class: 'filters', 'aria-label': 'Queue filters' }),
        h('label', { class: 'pick-all' }, h('input', { type: 'checkbox', id: 'pick-all',
          onchange: (ev) => pickAll(ev.target.checked) }), ' Select all shown'),
        bulk,
        h('ol', { id: 'queue-list', class: 'queue-list', 'aria-label': 'Review items' }),
        h('button', { type: 'button', id: 'more', class: 'link', hidden: true, onclick: () => loadMore().catch(fail) },
          'Load more')),
      h('section', { id: 'detail', class: 'detail-pane', 'aria-live': 'polite', 'aria-label': 'Selected item' })));
  // the item is shown as soon as it arrives; the list (refreshed and counted by the API)
  // follows
  state.items = [];
  state.selected = null;
  let listDone = false;
  const list = reloadList().then(() => { listDone = true; });
  list.catch(() => {}); // its error is thrown below, where it is awaited
  state.selected = itemId ? await api.item(itemId) : null;
  renderItem();
  if (listDone) renderList(); // drawn before the item arrived: mark the item in it
  await list;
}
