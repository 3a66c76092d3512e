// Search view: find golden records by name, email or phone.
import { api } from './api.js';
import { h, show } from './dom.js';

export async function renderSearch(view, params) {
  const field = params.get('by') || 'name';
  const value = params.get('q') || '';
  const form = h('form', { class: 'filters search', role: 'search', 'aria-label': 'Search entities' },
    h('label', { for: 's-by' }, 'Search by'),
    h('select', { id: 's-by', name: 'by' },
      ...[['name', 'Name'], ['email', 'Email'], ['phone', 'Phone'], ['loyalty_id', 'Loyalty id']]
        .map(([v, t]) => h('option', { value: v, selected: v === field }, t))),
    h('label', { for: 's-q' }, 'Value'),
    h('input', { id: 's-q', name: 'q', type: 'search', value, required: true, autocomplete: 'off' }),
    h('button', { type: 'submit', class: 'primary' }, 'Search'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams({ by: form.by.value, q: form.q.value.trim() });
    location.hash = `#/search?${p}`;
  });
  const results = h('section', { 'aria-live': 'polite', 'aria-label': 'Results' });
  view.append(h('h2', {}, 'Search'), form, results);
  if (!value) {
    form.q.focus();
    return;
  }
  const res = await api.search({ [field]: value, limit: 50 });
  const items = res.items || [];
  results.append(
    h('p', {}, `${items.length}${res.next ? '+' : ''} result${items.length === 1 ? '' : 's'}`),
    h('ul', { class: 'results' }, ...items.map((e) => {
      const g = e.golden || {};
      const name = g.full_name || [g.first_name, g.last_name].filter(Boolean).join(' ') || `Entity ${e.id}`;
      return h('li', {}, h('a', { href: `#/entity/${e.id}` }, name),
        h('span', { class: 'muted' }, ` · #${e.id} · ${show(g.emails)} ${show(g.phones)} ${g.birth_date || ''}`));
    })));
}
