// Entity view: golden values with lineage (which source won, by which rule, pinned or
// not), members (select some to split them off), consent state, history (with undo of a
// merge), and the merge / split / pin actions.
import { api, ApiError } from './api.js';
import { h, say, fail, show, fmtTime } from './dom.js';

function lineageCell(l) {
  if (!l) return h('td', {}, '');
  const where = l.source ? `${l.source}:${l.source_key}` : (l.source_record_id ? `record ${l.source_record_id}` : '');
  return h('td', { class: 'lineage' },
    l.pinned ? h('span', { class: 'badge pinned' }, 'pinned') : null,
    h('span', { class: 'rule' }, l.rule || ''),
    where ? h('span', { class: 'src' }, ` from ${where}`) : null,
    l.chosen_at ? h('span', { class: 'when' }, ` · ${fmtTime(l.chosen_at)}`) : null);
}

function goldenTable(e, onPin) {
  const golden = e.golden || {};
  const lineage = e.lineage || {};
  const names = Object.keys(golden).filter((k) => k !== 'keys' && k !== 'consents');
  return h('table', { class: 'golden', 'aria-labelledby': 'golden-title' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Attribute'), h('th', { scope: 'col' }, 'Golden value'),
      h('th', { scope: 'col' }, 'Lineage (rule, winning source)'), h('th', { scope: 'col' }, h('span', { class: 'sr' }, 'Actions')))),
    h('tbody', {}, ...names.map((n) => h('tr', { dataset: { attr: n } },
      h('th', { scope: 'row' }, n.replace(/_/g, ' ')),
      h('td', {}, show(golden[n])),
      lineageCell(lineage[n]),
      h('td', {}, h('button', { type: 'button', class: 'link', onclick: () => onPin(n, golden[n], lineage[n]),
        'aria-label': `Pin ${n}` }, lineage[n] && lineage[n].pinned ? 'Change pin' : 'Pin'))))));
}

function membersTable(e) {
  return h('table', { class: 'members', 'aria-labelledby': 'members-title' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, h('span', { class: 'sr' }, 'Select')),
      h('th', { scope: 'col' }, 'Source record'), h('th', { scope: 'col' }, 'Linked'), h('th', { scope: 'col' }, 'Updated at source'))),
    h('tbody', {}, ...(e.members || []).map((m) => h('tr', {},
      h('td', {}, h('input', { type: 'checkbox', name: 'split', value: String(m.record_id), id: `m-${m.record_id}`,
        'aria-label': `Select ${m.source}:${m.source_key} to split off` })),
      h('td', {}, h('label', { for: `m-${m.record_id}` }, `${m.source}:${m.source_key}`), h('span', { class: 'muted' }, ` (#${m.record_id})`)),
      h('td', {}, fmtTime(m.linked_at)),
      h('td', {}, fmtTime(m.source_updated_at))))));
}

function consentList(c) {
  const rows = (c && c.consents) || [];
  if (!rows.length) return h('p', { class: 'muted' }, 'No consent recorded.');
  return h('table', { class: 'consent' },
    h('thead', {}, h('tr', {}, ...['Purpose', 'Channel', 'Status', 'Captured', 'Source'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, ...rows.map((r) => h('tr', {},
      h('td', {}, r.purpose), h('td', {}, r.contact_point ? `${r.channel} (${r.contact_point})` : r.channel),
      h('td', {}, h('span', { class: `badge ${r.granted ? 'granted' : r.status}` }, r.status)),
      h('td', {}, fmtTime(r.captured_at)), h('td', {}, r.source ? `${r.source}:${r.source_key}` : '')))));
}

function historyList(hist, onUnmerge) {
  const events = (hist && hist.events) || [];
  if (!events.length) return h('p', { class: 'muted' }, 'No link events.');
  return h('ol', { class: 'history' }, ...events.map((ev) => h('li', {},
    h('span', { class: `badge ${ev.action}` }, ev.action), ' ',
    h('span', {}, `${ev.method || ''} by ${ev.actor || '?'}`),
    ev.record_id ? h('span', {}, ` · record ${ev.record_id}`) : null,
    ev.other_entity_id ? h('span', {}, ` · entity ${ev.other_entity_id}`) : null,
    typeof ev.probability === 'number' ? h('span', {}, ` · p=${ev.probability.toFixed(3)}`) : null,
    ev.rule ? h('span', {}, ` · ${ev.rule}`) : null,
    ev.reason ? h('span', { class: 'muted' }, ` · “${ev.reason}”`) : null,
    h('span', { class: 'when' }, ` · ${fmtTime(ev.created_at)}`),
    ev.action === 'merge' ? h('button', { type: 'button', class: 'link', onclick: () => onUnmerge(ev) }, 'Undo this merge') : null)));
}

export async function renderEntity(view, id) {
  const e = await api.entity(id);
  if (e.status === 'retired' && e.survivor_id) {
    say(`Entity ${id} was merged into ${e.survivor_id}.`);
    location.hash = `#/entity/${e.survivor_id}`;
    return;
  }
  const [hist, consent] = await Promise.all([
    api.history(id).catch(() => null),
    api.consent(id).catch(() => null),
  ]);
  const reload = () => {
    view.replaceChildren();
    renderEntity(view, id).catch(fail);
  };

  const onPin = async (attr, current) => {
    const dlg = document.getElementById('pin-dialog');
    dlg.querySelector('#pin-attr').textContent = attr.replace(/_/g, ' ');
    const input = dlg.querySelector('#pin-value');
    input.value = typeof current === 'string' ? current : JSON.stringify(current ?? '');
    dlg.querySelector('#pin-reason').value = '';
    dlg.dataset.attr = attr;
    dlg.showModal();
    input.focus();
  };
  const onUnmerge = async () => {
    try {
      const r = await api.unmerge(id, 'undo from the entity view');
      say(`Merge undone: entity ${r.restored || r.retired || ''} is back.`);
      reload();
    } catch (err) {
      fail(err);
    }
  };

  const mergeForm = h('form', { class: 'inline', 'aria-labelledby': 'merge-title' },
    h('h3', { id: 'merge-title' }, 'Merge another entity into this one'),
    h('label', { for: 'merge-other' }, 'Entity id'),
    h('input', { id: 'merge-other', name: 'other', type: 'number', min: '1', required: true }),
    h('label', { for: 'merge-reason' }, 'Reason'),
    h('input', { id: 'merge-reason', name: 'reason', type: 'text', maxlength: '2000' }),
    h('button', { type: 'submit', class: 'primary' }, 'Merge'));
  mergeForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const other = Number(mergeForm.other.value);
    if (!other) return;
    try {
      const r = await api.merge(id, e.version, other, mergeForm.reason.value.trim());
      say(`Merged: entity ${r.survivor} now holds both.`);
      if (r.survivor && r.survivor !== id) location.hash = `#/entity/${r.survivor}`;
      else reload();
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) say(`Conflict: ${err.message}`, 'error');
      else fail(err);
    }
  });

  const splitForm = h('form', { class: 'inline', 'aria-labelledby': 'split-title' },
    h('h3', { id: 'split-title' }, 'Split'),
    h('p', { class: 'muted' }, 'Select the source records that are a different person, then split them off into a new entity.'),
    h('label', { for: 'split-reason' }, 'Reason'),
    h('input', { id: 'split-reason', name: 'reason', type: 'text', maxlength: '2000' }),
    h('button', { type: 'submit' }, 'Split selected records'));
  splitForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const records = [...view.querySelectorAll('input[name=split]:checked')].map((c) => Number(c.value));
    if (!records.length) {
      say('Select the records to split off first.', 'error');
      return;
    }
    try {
      const r = await api.split(id, e.version, records, splitForm.reason.value.trim());
      say(`Split: the selected records are now entity ${r.moved_to}.`);
      reload();
    } catch (err) {
      fail(err);
    }
  });

  const pinDialog = h('dialog', { id: 'pin-dialog', 'aria-labelledby': 'pin-title' },
    h('form', { method: 'dialog' },
      h('h2', { id: 'pin-title' }, 'Pin ', h('span', { id: 'pin-attr' })),
      h('p', { class: 'muted' }, 'A pinned value wins over every survivorship rule until it is removed.'),
      h('label', { for: 'pin-value' }, 'Value'),
      h('input', { id: 'pin-value', type: 'text' }),
      h('label', { for: 'pin-reason' }, 'Reason'),
      h('input', { id: 'pin-reason', type: 'text', maxlength: '2000' }),
      h('div', { class: 'buttons' },
        h('button', { value: 'pin', class: 'primary' }, 'Pin'),
        h('button', { value: 'unpin' }, 'Remove pin'),
        h('button', { value: 'cancel' }, 'Cancel'))));
  pinDialog.addEventListener('close', async () => {
    const attr = pinDialog.dataset.attr;
    const action = pinDialog.returnValue;
    if (!attr || action === 'cancel' || !action) return;
    try {
      if (action === 'unpin') {
        await api.unpin(id, e.version, attr);
        say(`Pin of ${attr} removed.`);
      } else {
        let value = pinDialog.querySelector('#pin-value').value;
        try {
          if (/^[[{"]/.test(value)) value = JSON.parse(value);
        } catch { /* plain text */ }
        await api.pin(id, e.version, attr, value, pinDialog.querySelector('#pin-reason').value.trim());
        say(`${attr} pinned.`);
      }
      reload();
    } catch (err) {
      fail(err);
    }
  });

  view.append(
    h('article', { class: 'entity', 'aria-labelledby': 'entity-title' },
      h('h2', { id: 'entity-title' }, `Entity ${e.id}`,
        h('span', { class: 'muted' }, ` · version ${e.version} · ${e.status} · updated ${fmtTime(e.updated_at)}`)),
      h('div', { class: 'entity-grid' },
        h('section', { 'aria-labelledby': 'golden-title' }, h('h3', { id: 'golden-title' }, 'Golden record'), goldenTable(e, onPin)),
        h('section', { 'aria-labelledby': 'members-title' }, h('h3', { id: 'members-title' }, `Members (${(e.members || []).length})`),
          membersTable(e), splitForm),
        h('section', { 'aria-labelledby': 'consent-title' }, h('h3', { id: 'consent-title' }, 'Consent'), consentList(consent)),
        h('section', { 'aria-labelledby': 'history-title' }, h('h3', { id: 'history-title' }, 'History'), historyList(hist, onUnmerge)),
        h('section', {}, mergeForm))),
    pinDialog);
}
