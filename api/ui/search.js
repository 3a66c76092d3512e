// Search view: one box for a name (any order, nicknames, initials, the start of a name),
// an e-mail address, phone number, loyalty id, postal code or street line; the API
// normalizes it as matching does and ranks the golden records; 25 a page. Each result
// shows its golden record's data-quality scores (docs/QUALITY.md), low ones flagged.
import { api } from './api.js';
import { h, show } from './dom.js';

// The scores of a result, in the order of the entity reply, with what each measures.
const SCORES = [
  ['completeness', 'Complete', 'share of name, birth date, e-mail, phone and street address the golden record has'],
  ['validity', 'Valid', 'share of the values the sources sent that were valid'],
  ['consistency', 'Consistent', 'share of first name, last name and birth date on which the sources agree'],
  ['freshness', 'Fresh', 'how recent the newest source update is (0% at three years)'],
];

// Low (under 50%), fair (50-80%) or good: the class and the word for screen readers.
const level = (v) => (v < 0.5 ? 'low' : v < 0.8 ? 'fair' : 'good');

function qualityLine(q) {
  if (!q) return null;
  return h('span', { class: 'quality', role: 'list', 'aria-label': 'Data quality' },
    ...SCORES.filter(([k]) => typeof q[k] === 'number').map(([k, label, what]) => {
      const lv = level(q[k]);
      const days = k === 'freshness' && typeof q.freshness_days === 'number' ? ` (newest update ${q.freshness_days} days ago)` : '';
      return h('span', { class: `q q-${lv}`, role: 'listitem', 'data-score': k, title: `${what}${days}` },
        `${label} ${Math.round(q[k] * 100)}%`, h('span', { class: 'sr' }, ` (${lv})`));
    }));
}

export async function renderSearch(view, params) {
  const value = params.get('q') || '';
  const offset = Math.max(0, Number(params.get('offset')) || 0);
  const PAGE = Math.min(100, Math.max(1, Number(params.get('limit')) || 25));
  const form = h('form', { class: 'filters search', role: 'search', 'aria-label': 'Search entities' },
    h('label', { for: 's-q' }, 'Find a customer'),
    h('input', { id: 's-q', name: 'q', type: 'search', value, required: true, autocomplete: 'off', maxlength: '200',
      placeholder: 'name, e-mail, phone, loyalty id, postal code or street' }),
    h('button', { type: 'submit', class: 'primary' }, 'Search'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    location.hash = `#/search?${new URLSearchParams({ q: form.q.value.trim() })}`;
  });
  const results = h('section', { 'aria-live': 'polite', 'aria-label': 'Results', id: 'results' });
  view.append(h('h2', {}, 'Search'), form, results);
  if (!value) {
    form.q.focus();
    return;
  }
  const res = await api.search({ q: value, limit: PAGE, offset: offset || undefined });
  const items = res.items || [];
  const page = (o) => `#/search?${new URLSearchParams({ q: value, offset: String(o), ...(params.get('limit') ? { limit: String(PAGE) } : {}) })}`;
  results.append(
    h('p', { id: 'result-count' }, items.length
      ? `${offset + 1}–${offset + items.length} of ${res.total} golden records, best match first`
      : 'No golden record matches.'),
    h('ol', { class: 'results', start: String(offset + 1) }, ...items.map((e) => {
      const g = e.golden || {};
      const name = g.full_name || [g.first_name, g.last_name].filter(Boolean).join(' ') || `Entity ${e.id}`;
      const addr = (g.addresses || [])[0];
      return h('li', {}, h('a', { href: `#/entity/${e.id}` }, name),
        h('span', { class: 'muted' }, ` · #${e.id} · ${[show(g.emails), show(g.phones), g.birth_date, addr ? show(addr) : '']
          .filter(Boolean).join(' · ')}`),
        qualityLine(e.quality));
    })),
    h('nav', { class: 'pager', 'aria-label': 'Result pages' },
      offset > 0 ? h('a', { href: page(Math.max(0, offset - PAGE)), id: 'prev-page' }, '← Previous') : null,
      res.next !== null && res.next !== undefined ? h('a', { href: page(res.next), id: 'next-page' }, 'Next →') : null));
}
