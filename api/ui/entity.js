// Entity view: golden values with lineage (which source won, by which rule, pinned or
// not), every member source record side by side (select some to split them off), its
// household and related golden records (a steward may assert a relation, move the person
// to another household or split the household), consent state,
// history (undo of exactly the merge clicked), and the merge (find the
// other golden record by search), split and pin (choose a source's value or type one)
// actions. A merged-away id says so and shows its survivor; every action then acts on
// the survivor.
import { api, ApiError } from './api.js';
import { h, say, fail, show, fmtTime, label, once, breakable, relatedList } from './dom.js';

function lineageCell(l) {
  if (!l) return h('td', {}, '');
  const where = l.source ? `${l.source}:${l.source_key}` : (l.source_record_id ? `record ${l.source_record_id}` : '');
  return h('td', { class: 'lineage' },
    l.pinned ? h('span', { class: 'badge pinned' }, 'pinned') : null,
    h('span', { class: 'rule' }, l.rule || ''),
    where ? h('span', { class: 'src' }, ` from ${where}`) : null,
    l.chosen_at ? h('span', { class: 'when' }, ` · ${fmtTime(l.chosen_at)}`) : null);
}

const HIDDEN = new Set(['keys', 'consents', 'source', 'source_key', 'source_updated_at', 'op', 'issues']);

function goldenTable(e, onPin) {
  const golden = e.golden || {};
  const lineage = e.lineage || {};
  const names = Object.keys(golden).filter((k) => !HIDDEN.has(k));
  return h('div', { class: 'scroll' }, h('table', { class: 'golden', 'aria-labelledby': 'golden-title' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Attribute'), h('th', { scope: 'col' }, 'Golden value'),
      h('th', { scope: 'col' }, 'Lineage (rule, winning source)'), h('th', { scope: 'col' }, h('span', { class: 'sr' }, 'Actions')))),
    h('tbody', {}, ...names.map((n) => h('tr', { dataset: { attr: n } },
      h('th', { scope: 'row' }, label(n)),
      h('td', {}, breakable(show(golden[n]))),
      lineageCell(lineage[n]),
      h('td', {}, h('button', { type: 'button', class: 'link', onclick: () => onPin(n),
        'aria-label': `Pin ${n}` }, lineage[n] && lineage[n].pinned ? 'Change pin' : 'Pin')))))));
}

// Every member source record: one column per record, one row per attribute.
function recordsTable(e) {
  const recs = e.records || [];
  const names = [];
  for (const r of recs) for (const k of Object.keys(r.fields || {})) if (!HIDDEN.has(k) && !names.includes(k)) names.push(k);
  return h('div', { class: 'scroll' }, h('table', { class: 'sources', id: 'source-records' },
    h('caption', { class: 'sr' }, 'Values of every member source record'),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Attribute'), ...recs.map((r) => h('th', { scope: 'col' },
      h('input', { type: 'checkbox', name: 'split', value: String(r.record_id), id: `m-${r.record_id}`,
        'aria-label': `Select ${r.source}:${r.source_key} to split off` }), ' ',
      h('label', { for: `m-${r.record_id}`, class: 'src-name' }, r.source_name || r.source), h('br'),
      `${r.source}:${r.source_key}`, h('br'),
      h('span', { class: 'muted' }, `updated ${fmtTime(r.source_updated_at || r.received_at)}`))))),
    h('tbody', {}, ...names.map((n) => h('tr', {}, h('th', { scope: 'row' }, label(n)),
      ...recs.map((r) => h('td', {}, breakable(show((r.fields || {})[n])))))))));
}

function consentList(c) {
  const all = (c && c.consents) || [];
  const rows = all.filter((r) => r.status !== 'none');
  if (!rows.length) {
    return h('p', { class: 'muted' }, `No consent recorded${all.length ? ` for any of the ${all.length} purposes and channels` : ''}.`);
  }
  return h('table', { class: 'consent' },
    h('thead', {}, h('tr', {}, ...['Purpose', 'Channel', 'Status', 'Captured', 'Source'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, ...rows.map((r) => h('tr', {},
      h('td', {}, r.purpose), h('td', {}, r.contact_point ? `${r.channel} (${r.contact_point})` : r.channel),
      h('td', {}, h('span', { class: `badge ${r.granted ? 'granted' : r.status}` }, r.status)),
      h('td', {}, fmtTime(r.captured_at)), h('td', {}, r.source ? `${r.source}:${r.source_key}` : '')))));
}

// Where each subscribed system stands: current, or what is still on its way (and for
// how long, against the subscription's propagation SLA).
const age = (s) => (s < 120 ? `${Math.round(s)} s` : s < 7200 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3600)} h`);
function propagationList(p) {
  const systems = (p && p.systems) || [];
  if (!systems.length) return h('p', { class: 'muted' }, 'No subscribed system has received this golden record.');
  return h('table', { class: 'propagation', id: 'propagation' },
    h('thead', {}, h('tr', {}, ...['System', 'State', 'Has version', 'Waiting'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, ...systems.map((s) => h('tr', { dataset: { source: s.source, state: s.state } },
      h('td', {}, s.source),
      h('td', {}, h('span', { class: `badge ${s.state === 'current' ? 'granted' : s.state === 'dead' ? 'denied' : 'claimed'}` },
        s.state === 'current' ? 'up to date' : s.state), s.over_sla ? h('span', { class: 'badge denied' }, ' late') : null),
      h('td', {}, s.acknowledged_version === null ? '—' : `${s.acknowledged_version}${s.acknowledged_version === p.version ? ' (current)' : ` of ${p.version}`}`),
      h('td', {}, s.open.length
        ? `${s.open.length} change${s.open.length === 1 ? '' : 's'}, oldest ${age(s.oldest_open_age_seconds)}` +
          `${s.max_delay_seconds ? ` (SLA ${age(s.max_delay_seconds)})` : ''}, ${s.open[0].attempts} attempt${s.open[0].attempts === 1 ? '' : 's'}` +
          `${s.open[0].last_status ? `, last answer ${s.open[0].last_status}` : ''}`
        : h('span', { class: 'muted' }, 'nothing'))))));
}

function historyList(hist, onUnmerge, onUnsplit) {
  const events = (hist && hist.events) || [];
  if (!events.length) return h('p', { class: 'muted' }, 'No link events.');
  return h('ol', { class: 'history' }, ...events.map((ev) => h('li', { dataset: { event: ev.id } },
    h('span', { class: `badge ${ev.action}` }, ev.action), ' ',
    h('span', {}, `${ev.method || ''} by ${ev.actor || '?'}`),
    ev.record_id ? h('span', {}, ` · record ${ev.record_id}`) : null,
    ev.other_entity_id ? h('span', {}, ` · entity ${ev.other_entity_id}`) : null,
    typeof ev.probability === 'number' ? h('span', {}, ` · p=${ev.probability.toFixed(3)}`) : null,
    ev.rule ? h('span', {}, ` · ${ev.rule}`) : null,
    ev.reason ? h('span', { class: 'muted' }, ` · “${ev.reason}”`) : null,
    h('span', { class: 'when' }, ` · ${fmtTime(ev.created_at)}`),
    ev.action === 'merge' && ev.snapshot_id && !ev.undone_at
      ? h('button', { type: 'button', class: 'link', onclick: (e2) => onUnmerge(ev, e2.currentTarget),
        'aria-label': `Undo the merge of entity ${ev.other_entity_id}` }, 'Undo this merge')
      : null,
    ev.action === 'split' && ev.split_id && !ev.undone_at
      ? h('button', { type: 'button', class: 'link', onclick: (e2) => onUnsplit(ev, e2.currentTarget),
        'aria-label': `Undo the split into entity ${ev.other_entity_id}` }, 'Undo this split')
      : null,
    ev.undone_at ? h('span', { class: 'muted' }, ` · undone ${fmtTime(ev.undone_at)}`) : null)));
}

// The distinct values the member records hold for attr (what a pin can choose from).
function sourceValues(e, attr) {
  const out = [];
  for (const r of e.records || []) {
    const v = (r.fields || {})[attr];
    if (v === undefined || v === null || v === '') continue;
    const text = show(v);
    const had = out.find((o) => o.text === text);
    if (had) had.from.push(`${r.source}:${r.source_key}`);
    else out.push({ value: v, text, from: [`${r.source}:${r.source_key}`] });
  }
  return out;
}

const LISTS = new Set(['emails', 'phones']);

// The household: members with their roles (this golden record marked), the address, and
// the steward's actions (move this person to another household; split this one).
function householdBlock(hh, id, onMove, onSplit) {
  const actions = h('div', { class: 'buttons', id: 'household-actions' },
    h('button', { type: 'button', id: 'household-move', onclick: onMove }, 'Move to another household…'),
    hh && hh.members.length > 1 ? h('button', { type: 'button', id: 'household-split', onclick: onSplit }, 'Split this household…') : null);
  if (!hh) return h('div', {}, h('p', { class: 'muted', id: 'no-household' }, 'No household: no source record gives a street address.'), actions);
  return h('div', { id: 'household', dataset: { household: hh.id, version: hh.version } },
    h('p', {}, h('strong', {}, `Household ${hh.id}`),
      h('span', { class: 'muted' }, ` · ${hh.members.length} member${hh.members.length === 1 ? '' : 's'} · ${show(hh.address)}`)),
    h('ul', { class: 'related' }, ...hh.members.map((m) => h('li', { dataset: { entity: m.entity_id } },
      h('span', { class: `badge ${m.role}` }, m.role), ' ',
      m.entity_id === id ? h('strong', {}, `${m.name || `Entity ${m.entity_id}`} (this record)`)
        : h('a', { href: `#/entity/${m.entity_id}` }, m.name || `Entity ${m.entity_id}`),
      h('span', { class: 'muted' }, ` #${m.entity_id}${m.birth_date ? ` · born ${m.birth_date}` : ''}`)))),
    actions);
}

export async function renderEntity(view, requested) {
  const e = await api.entity(requested);
  const id = e.id; // the survivor when the requested id was merged away
  const [hist, consent, household, related, propagation] = await Promise.all([
    api.history(id).catch(() => null),
    api.consent(id).catch(() => null),
    api.household(id).catch(() => null),
    api.related(id).catch(() => null),
    api.propagation(id).catch(() => null),
  ]);
  const reload = () => {
    view.replaceChildren();
    renderEntity(view, id).catch(fail);
  };

  const pinDialog = h('dialog', { id: 'pin-dialog', 'aria-labelledby': 'pin-title' });

  // household actions: a steward's placement is kept through later resolution
  const hhDialog = h('dialog', { id: 'household-dialog', 'aria-labelledby': 'household-dialog-title' });
  const hhForm = (title, intro, fields, submitText, act) => {
    const err = h('p', { id: 'household-error', class: 'error', role: 'alert' });
    const reason = h('input', { id: 'household-reason', type: 'text', maxlength: '500', required: true });
    const btn = h('button', { type: 'submit', class: 'primary' }, submitText);
    const form = h('form', {},
      h('h2', { id: 'household-dialog-title' }, title),
      h('p', { class: 'muted' }, intro),
      ...fields,
      h('label', { for: 'household-reason' }, 'Reason'), reason, err,
      h('div', { class: 'buttons' }, btn, h('button', { type: 'button', onclick: () => hhDialog.close() }, 'Cancel')));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      once(btn, async () => {
        if (!reason.value.trim()) { err.textContent = 'Give a reason: it goes to the audit log.'; return; }
        try {
          const msg = await act(reason.value.trim(), err);
          if (!msg) return;
          hhDialog.close();
          say(msg);
          reload();
        } catch (x) {
          err.textContent = x instanceof ApiError ? `Not done: ${x.message}` : String(x);
        }
      });
    });
    hhDialog.replaceChildren(form);
    hhDialog.showModal();
    (form.querySelector('input:not([type=checkbox])') || reason).focus();
  };
  const onHouseholdMove = () => {
    const target = h('input', { id: 'household-target', type: 'number', min: '1', required: true });
    hhForm(`Move entity ${id} to another household`,
      'The person leaves their household and joins the one you name. The move is kept: later loads and resolution do not undo it.',
      [h('label', { for: 'household-target' }, 'Household id'), target], 'Move',
      async (reason, err) => {
        const hid = Number(target.value);
        if (!hid) { err.textContent = 'Type the id of the household to move to.'; return null; }
        const r = await api.householdMove(hid, id, undefined, reason);
        return `Entity ${id} moved to household ${r.household.id}${r.from_household ? ` (from household ${r.from_household})` : ''}.`;
      });
  };
  const onHouseholdSplit = () => {
    const boxes = household.members.map((m) => h('div', { class: 'choice' },
      h('input', { type: 'checkbox', id: `household-leave-${m.entity_id}`, value: String(m.entity_id) }),
      h('label', { for: `household-leave-${m.entity_id}` }, m.name || `Entity ${m.entity_id}`,
        h('span', { class: 'muted' }, ` #${m.entity_id} · ${m.role}`))));
    hhForm(`Split household ${household.id}`,
      'The members you tick leave together for a new household at the same address; the others stay. The split is kept: later loads and resolution do not undo it.',
      [h('fieldset', {}, h('legend', {}, 'Members who leave'), ...boxes)], 'Split off',
      async (reason, err) => {
        const members = boxes.map((b) => b.querySelector('input')).filter((i) => i.checked).map((i) => Number(i.value));
        if (!members.length) { err.textContent = 'Tick the members who leave.'; return null; }
        const r = await api.householdSplit(household.id, members, household.version, reason);
        return `Household ${household.id} split: ${members.length} member${members.length === 1 ? '' : 's'} now in household ${r.split_off.id}.`;
      });
  };
  const onPin = (attr) => {
    const current = (e.golden || {})[attr];
    const choices = sourceValues(e, attr);
    const typed = h('input', { id: 'pin-value', type: 'text', value: typeof current === 'string' ? current : '' });
    const err = h('p', { id: 'pin-error', class: 'error', role: 'alert' });
    const radios = choices.map((c, i) => h('div', { class: 'choice' },
      h('input', { type: 'radio', name: 'pin-choice', id: `pin-c${i}`, value: String(i), checked: c.text === show(current) }),
      h('label', { for: `pin-c${i}` }, c.text, h('span', { class: 'muted' }, ` (${c.from.join(', ')})`))));
    const other = h('div', { class: 'choice' },
      h('input', { type: 'radio', name: 'pin-choice', id: 'pin-typed', value: 'typed', checked: !radios.length }),
      h('label', { for: 'pin-typed' }, 'Another value (checked like a source record\'s)'));
    typed.addEventListener('focus', () => { other.querySelector('input').checked = true; });
    const reason = h('input', { id: 'pin-reason', type: 'text', maxlength: '2000' });
    const pinBtn = h('button', { type: 'submit', class: 'primary' }, 'Pin');
    const form = h('form', {},
      h('h2', { id: 'pin-title' }, `Pin ${label(attr)}`),
      h('p', { class: 'muted' }, 'A pinned value wins over every survivorship rule until it is removed.'),
      h('fieldset', {}, h('legend', {}, 'Value'), ...radios, other, h('label', { for: 'pin-value', class: 'sr' }, 'Value'), typed),
      h('label', { for: 'pin-reason' }, 'Reason'), reason, err,
      h('div', { class: 'buttons' }, pinBtn,
        e.lineage && e.lineage[attr] && e.lineage[attr].pinned
          ? h('button', { type: 'button', id: 'unpin', onclick: (ev) => once(ev.currentTarget, async () => {
            try {
              await api.unpin(id, e.version, attr);
              pinDialog.close();
              say(`Pin of ${attr} removed.`);
              reload();
            } catch (x) { err.textContent = x.message; }
          }) }, 'Remove pin') : null,
        h('button', { type: 'button', onclick: () => pinDialog.close() }, 'Cancel')));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      once(pinBtn, async () => {
        const picked = form.querySelector('input[name=pin-choice]:checked');
        let value;
        if (picked && picked.value !== 'typed') value = choices[Number(picked.value)].value;
        else {
          value = typed.value.trim();
          if (!value) { err.textContent = 'Type a value or choose one of the sources\' values.'; return; }
          if (LISTS.has(attr)) value = [{ value }];
        }
        try {
          await api.pin(id, e.version, attr, value, reason.value.trim());
          pinDialog.close();
          say(`${attr} pinned.`);
          reload();
        } catch (x) {
          err.textContent = x instanceof ApiError ? `Not pinned: ${x.message}` : String(x);
        }
      });
    });
    pinDialog.replaceChildren(form);
    pinDialog.showModal();
    (radios.length ? form.querySelector('input[name=pin-choice]:checked') || typed : typed).focus();
    if (!radios.length) typed.focus();
  };

  const onUnsplit = (ev, button) => once(button, async () => {
    try {
      const r = await api.unsplit(id, ev.split_id, 'undo from the entity view');
      say(`Split undone: ${r.moved_back.length} record${r.moved_back.length === 1 ? '' : 's'} back in entity ${r.entity_id}.`);
      if (r.entity_id !== id) location.hash = `#/entity/${r.entity_id}`;
      else reload();
    } catch (err) {
      fail(err);
    }
  });

  const onUnmerge = (ev, button) => once(button, async () => {
    try {
      const r = await api.unmerge(id, ev.snapshot_id, 'undo from the entity view');
      say(`Merge undone: entity ${r.restored} is back.`);
      reload();
    } catch (err) {
      fail(err);
    }
  });

  // merge: find the other golden record by search, see both, then confirm
  const mergeBtn = h('button', { type: 'submit', class: 'primary', id: 'merge-confirm', disabled: true }, 'Merge');
  const found = h('ul', { class: 'results', id: 'merge-results', 'aria-live': 'polite' });
  const preview = h('div', { id: 'merge-preview' });
  const mergeForm = h('form', { class: 'inline', 'aria-labelledby': 'merge-title' },
    h('h3', { id: 'merge-title' }, 'Merge another golden record into this one'),
    h('label', { for: 'merge-find' }, 'Find it (name, e-mail, phone, loyalty id, postal code, address)'),
    h('div', { class: 'find' }, h('input', { id: 'merge-find', type: 'search', autocomplete: 'off' }),
      h('button', { type: 'button', id: 'merge-search', onclick: () => findOther().catch(fail) }, 'Search')),
    found,
    h('label', { for: 'merge-other' }, 'Entity id'),
    h('input', { id: 'merge-other', name: 'other', type: 'number', min: '1', required: true }),
    preview,
    h('label', { for: 'merge-reason' }, 'Reason'),
    h('input', { id: 'merge-reason', name: 'reason', type: 'text', maxlength: '2000' }),
    mergeBtn);
  const showPreview = async () => {
    const other = Number(mergeForm.other.value);
    mergeBtn.disabled = true;
    preview.replaceChildren();
    if (!other || other === id) return;
    try {
      const [o, after] = await Promise.all([api.entity(other), api.mergePreview(id, other)]);
      const g1 = e.golden || {};
      const g2 = o.golden || {};
      const g3 = after.golden || {};
      const names = [...new Set([...Object.keys(g3), ...Object.keys(g1), ...Object.keys(g2)])].filter((k) => !HIDDEN.has(k));
      preview.replaceChildren(h('div', { class: 'scroll' }, h('table', { class: 'golden-pair', id: 'merge-compare' },
        h('caption', {}, `After the merge: entity ${after.survivor} with ${after.records} records (entity ${after.retired} is retired)`),
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Attribute'), h('th', { scope: 'col' }, `Entity ${id} now`),
          h('th', { scope: 'col' }, `Entity ${o.id} now`), h('th', { scope: 'col' }, 'After the merge'))),
        h('tbody', {}, ...names.map((n) => {
          const l = (after.lineage || {})[n];
          return h('tr', { dataset: { attr: n } }, h('th', { scope: 'row' }, label(n)), h('td', {}, show(g1[n])),
            h('td', {}, show(g2[n])), h('td', { class: 'after' }, show(g3[n]), l ? h('span', { class: 'rule' }, ` ${l.rule}`) : null));
        })))));
      mergeBtn.disabled = o.id === id;
    } catch (x) {
      fail(x);
    }
  };
  const findOther = async () => {
    const q = mergeForm.querySelector('#merge-find').value.trim();
    if (!q) return;
    const res = await api.search({ q, limit: 10 });
    found.replaceChildren(...(res.items || []).filter((x) => x.id !== id).map((x) => {
      const g = x.golden || {};
      return h('li', {}, h('button', { type: 'button', class: 'link', onclick: () => { mergeForm.other.value = String(x.id); showPreview(); } },
        `${g.full_name || [g.first_name, g.last_name].filter(Boolean).join(' ') || 'Entity'} · #${x.id}`),
      h('span', { class: 'muted' }, ` ${show(g.emails)} ${g.birth_date || ''}`));
    }));
    if (!found.children.length) found.append(h('li', { class: 'muted' }, 'No other golden record found.'));
  };
  mergeForm.querySelector('#merge-find').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter') { ev.preventDefault(); findOther().catch(fail); }
  });
  mergeForm.other.addEventListener('change', showPreview);
  mergeForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const other = Number(mergeForm.other.value);
    if (!other) return;
    once(mergeBtn, async () => {
      try {
        const r = await api.merge(id, e.version, other, mergeForm.reason.value.trim());
        say(`Merged: entity ${r.survivor} now holds both.`, 'info', `entity/${r.survivor}`);
        if (r.survivor && r.survivor !== id) location.hash = `#/entity/${r.survivor}`;
        else reload();
      } catch (err) {
        if (err instanceof ApiError && err.status === 409) say(`Conflict: ${err.message}`, 'error');
        else fail(err);
      }
    });
  });

  const splitBtn = h('button', { type: 'submit' }, 'Split selected records');
  const splitForm = h('form', { class: 'inline', 'aria-labelledby': 'split-title' },
    h('h3', { id: 'split-title' }, 'Split'),
    h('p', { class: 'muted' }, 'Tick the source records above that are a different person, then split them off into a new entity.'),
    h('label', { for: 'split-reason' }, 'Reason'),
    h('input', { id: 'split-reason', name: 'reason', type: 'text', maxlength: '2000' }),
    splitBtn);
  splitForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const records = [...view.querySelectorAll('input[name=split]:checked')].map((c) => Number(c.value));
    if (!records.length) {
      say('Select the records to split off first.', 'error');
      return;
    }
    once(splitBtn, async () => {
      try {
        const r = await api.split(id, e.version, records, splitForm.reason.value.trim());
        say(`Split: the selected records are now entity ${r.moved_to}.`);
        reload();
      } catch (err) {
        fail(err);
      }
    });
  });

  // relations: the household members are listed with the household; the rest here
  const onRemove = (r, button) => once(button, async () => {
    try {
      await api.unrelate(id, r.entity_id);
      say(`Relation to entity ${r.entity_id} removed.`);
      reload();
    } catch (err) {
      fail(err);
    }
  });
  const relBtn = h('button', { type: 'submit' }, 'Mark as related');
  const relForm = h('form', { class: 'inline', id: 'relate-form', 'aria-labelledby': 'relate-title' },
    h('h4', { id: 'relate-title' }, 'Mark another golden record as related'),
    h('p', { class: 'muted' }, 'A relation is shown beside the record; it is never evidence that two records are one person.'),
    h('label', { for: 'relate-other' }, 'Entity id'),
    h('input', { id: 'relate-other', name: 'other', type: 'number', min: '1', required: true }),
    h('label', { for: 'relate-reason' }, 'Reason'),
    h('input', { id: 'relate-reason', name: 'reason', type: 'text', maxlength: '500', required: true }),
    relBtn);
  relForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    once(relBtn, async () => {
      try {
        await api.relate(id, Number(relForm.other.value), relForm.reason.value.trim());
        say(`Entity ${relForm.other.value} marked as related.`);
        reload();
      } catch (err) {
        fail(err);
      }
    });
  });
  const others = ((related && related.items) || []).filter((r) => r.type !== 'same_household');

  const merged = e.requested_id && e.requested_id !== e.id;
  view.append(
    h('article', { class: 'entity', 'aria-labelledby': 'entity-title' },
      merged ? h('p', { class: 'notice', id: 'merged-away', role: 'status' },
        `Entity ${e.requested_id} was merged into entity ${e.id}; this is entity ${e.id}, which holds its records now. `,
        'Every action here acts on entity ', h('strong', {}, String(e.id)), '.') : null,
      h('h2', { id: 'entity-title' }, `Entity ${e.id}`,
        h('span', { class: 'muted' }, ` · version ${e.version} · ${e.status} · updated ${fmtTime(e.updated_at)}`)),
      h('div', { class: 'entity-grid' },
        h('section', { 'aria-labelledby': 'golden-title' }, h('h3', { id: 'golden-title' }, 'Golden record'), goldenTable(e, onPin)),
        h('section', { 'aria-labelledby': 'history-title' }, h('h3', { id: 'history-title' }, 'History'), historyList(hist, onUnmerge, onUnsplit)),
        h('section', { class: 'wide', 'aria-labelledby': 'members-title' },
          h('h3', { id: 'members-title' }, `Source records (${(e.records || e.members || []).length})`),
          recordsTable(e), splitForm),
        h('section', { 'aria-labelledby': 'household-title', id: 'household-section' },
          h('h3', { id: 'household-title' }, 'Household and related records'),
          householdBlock(household, id, onHouseholdMove, onHouseholdSplit),
          h('h4', {}, 'Related golden records'), relatedList(others, onRemove), relForm),
        h('section', { 'aria-labelledby': 'consent-title' }, h('h3', { id: 'consent-title' }, 'Consent'), consentList(consent)),
        h('section', { 'aria-labelledby': 'propagation-title' },
          h('h3', { id: 'propagation-title' }, 'Subscribed systems'), propagationList(propagation)),
        h('section', {}, mergeForm))),
    pinDialog, hhDialog);
}
