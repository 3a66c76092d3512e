// Steward UI, entity screens and search, on the pipeline's data plus a few people sent
// over HTTP by two source systems (as a source system would): search normalized as
// matching does and paged; merge after finding the other record by search, with a look
// at both first and one request however often Merge is clicked; undo of exactly the merge
// clicked; a merged-away id says so and acts on its survivor; pins chosen among the
// sources' values or typed and checked like a source value; split; tax ids masked.
import os from 'node:os';
import { watchReplies, base, api, sql, check, launch, test, screens, signIn, newKey, timeToUsable, finish } from './lib.mjs';

const crm = newKey('source', ['--source', 'crm']);
const loyalty = newKey('source', ['--source', 'loyalty']);
const admin = newKey('admin');
const people = [
  [crm, 'crm', { source_key: 'W-1', first_name: 'Robert', middle_name: 'James', last_name: 'Whitaker', birth_date: '1979-08-14', emails: [{ value: 'rjw@example.org' }] }],
  [loyalty, 'loyalty', { source_key: 'W-2', full_name: 'Jürgen Müller', birth_date: '1966-02-03', loyalty_id: 'LM-5521',
    phones: [{ value: '(907) 555-0147' }], addresses: [{ line1: '13 Vista Lane', city: 'Nome', postal_code: '99762', country: 'US' }] }],
  [crm, 'crm', { source_key: 'W-3', first_name: 'Zelda', last_name: 'Quarrington', birth_date: '1990-01-01', emails: [{ value: 'zelda.q@example.org' }] }],
  [crm, 'crm', { source_key: 'W-4', first_name: 'Zora', last_name: 'Quarrington', birth_date: '1991-05-05', emails: [{ value: 'zora.q@example.org' }] }],
  [crm, 'crm', { source_key: 'W-5', first_name: 'Zane', last_name: 'Quarrington', birth_date: '1992-06-06', emails: [{ value: 'zane.q@example.org' }] }],
];
// sixty people of one rare last name (each a golden record of their own): more than two
// pages of search results
const FIRST = ['Abel', 'Bianca', 'Cyrus', 'Delia', 'Emil', 'Flora', 'Gideon', 'Hazel', 'Ivor', 'Juno', 'Kasimir', 'Lorna',
  'Magnus', 'Nerys', 'Osric', 'Petra', 'Quentin', 'Rosalind', 'Silas', 'Tamsin', 'Ulric', 'Verity', 'Wendell', 'Xenia',
  'Yorick', 'Zinnia'];
for (let i = 0; i < 60; i++) {
  people.push([crm, 'crm', { source_key: `PW-${i}`, first_name: `${FIRST[i % 26]}${i >= 26 ? ['ina', 'ette', 'o'][Math.floor(i / 26) - 1] : ''}`,
    last_name: 'Pagewood', birth_date: `${1940 + i}-0${1 + (i % 9)}-1${i % 10}`, emails: [{ value: `pagewood.${i}@example.org` }] }]);
}
// the CRM subscribes to its customers' golden records; its URL is one the egress guard
// refuses, so its deliveries stay pending, as for a system that is down
const sub = await api('POST', '/v1/subscriptions', { source: 'crm', url: 'http://127.0.0.1:9/hook',
  secret: 'browser-test-secret-0123456789', max_delay_seconds: 60 }, admin);
if (sub.status !== 201) throw new Error(`subscription: ${sub.status} ${JSON.stringify(sub.body)}`);
const ent = {};
for (const [k, src, rec] of people) {
  const r = await api('POST', `/v1/sources/${src}/records`, rec, k);
  if (r.status !== 200 && r.status !== 201) throw new Error(`ingest ${rec.source_key}: ${r.status} ${JSON.stringify(r.body)}`);
  ent[rec.source_key] = r.body.entity_id;
}
const live = (sk) => Number(sql(`SELECT m.entity_id FROM membership m JOIN source_record s ON s.id = m.record_id
  WHERE m.active AND s.source_key = '${sk}'`));
const entity = async (id, k) => (await api('GET', `/v1/entities/${id}`, undefined, k)).body;

const { page, errors, close } = await launch();
const timings = {};
const replyProblems = await watchReplies(page); // every reply the UI reads, against the OpenAPI schemas

await test(page, 'entity_sign_in', async () => {
  await signIn(page);
});

// defect 8: names normalized as matching does, in any order, and paging
await test(page, 'search_names', async () => {
  const cases = [['Whitaker, Robert', 'W-1'], ['R Whitaker', 'W-1'], ['Robert James Whitaker', 'W-1'], ['Bob Whitaker', 'W-1'],
    ['whit', 'W-1'], ['MÜLLER', 'W-2'], ['Muller', 'W-2'], ['Jürgen', 'W-2'], ['jurgen muller', 'W-2'],
    ['rjw@example.org', 'W-1'], ['LM 5521', 'W-2'], ['907-555-0147', 'W-2'], ['+1 907 555 0147', 'W-2'],
    ['99762', 'W-2'], ['99762-1234', 'W-2'], ['13 Vista Ln', 'W-2'], ['13 vista lane', 'W-2'], ['Jürgen', 'W-2']];
  for (const [q, sk] of cases) {
    await page.goto(`${base}/ui/#/search?q=${encodeURIComponent(q)}`);
    await page.locator('#result-count').waitFor();
    const hrefs = await page.locator('.results a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
    check(hrefs.includes(`#/entity/${live(sk)}`), `"${q}" finds ${sk} (${hrefs.slice(0, 5)})`);
  }
  // a first name alone: every Robert, the Whitaker one among them, on some page
  const roberts = (await api('GET', '/v1/entities?q=Robert&limit=1000')).body;
  check(roberts.items.some((x) => x.id === live('W-1')) && roberts.total >= roberts.items.length, 'a first name alone');
  // a first name alone, in the UI: the count is the API's, and paging on finds Robert
  // Whitaker among every Robert (Bob, Rob)
  await page.goto(`${base}/ui/#/search?q=Robert`);
  await page.locator('#result-count', { hasText: `of ${roberts.total} ` }).waitFor();
  let found = false;
  for (let i = 0; i < 20 && !found; i++) {
    const hrefs = await page.locator('.results a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
    found = hrefs.includes(`#/entity/${live('W-1')}`);
    if (!found) {
      const before = await page.locator('#result-count').textContent();
      await page.locator('#next-page').click();
      await page.waitForFunction((b) => document.querySelector('#result-count')?.textContent !== b, before);
    }
  }
  check(found, '"Robert" alone finds Robert Whitaker in the UI');
  // no result: says so
  await page.goto(`${base}/ui/#/search?q=${encodeURIComponent('Xqzzyv Wrrpq')}`);
  await page.locator('#result-count', { hasText: 'No golden record matches' }).waitFor();
  await screens(page, 'search-none');
  // defect 8, "no page after the first 50 results": 60 Pagewoods, 25 a page, three pages,
  // the third holding results 51-60 of the ranked list
  const pw = (await api('GET', '/v1/entities?q=Pagewood&limit=100')).body;
  check(pw.total === 60 && pw.items.length === 60, `60 Pagewoods (${pw.total})`);
  await page.goto(`${base}/ui/#/search?q=Pagewood`);
  await page.locator('#result-count', { hasText: '1–25 of 60' }).waitFor();
  const seen = [];
  for (const [from, to] of [[1, 25], [26, 50], [51, 60]]) {
    await page.locator('#result-count', { hasText: `${from}–${to} of 60` }).waitFor();
    const hrefs = await page.locator('.results a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
    check(hrefs.length === to - from + 1, `page ${from}-${to} holds ${hrefs.length}`);
    check(hrefs.every((x, i) => x === `#/entity/${pw.items[from - 1 + i].id}`), `page ${from}-${to} is the ranked list's`);
    seen.push(...hrefs);
    if (to < 60) await page.locator('#next-page').click();
  }
  check(new Set(seen).size === 60, 'every Pagewood once');
  check(await page.locator('#next-page').count() === 0, 'no page after the last');
  const overflow = await screens(page, 'search-page-3');
  check(overflow <= 1, `no horizontal scrolling at 390 px (${overflow}px)`);
  await page.locator('#prev-page').click();
  await page.locator('#result-count', { hasText: '26–50 of 60' }).waitFor();
  // paging past the first page
  const pre = sql(`SELECT left(lower(golden->>'last_name'), 3) FROM entity WHERE status = 'active' AND golden ? 'last_name'
    GROUP BY 1 ORDER BY count(*) DESC LIMIT 1`);
  const all = (await api('GET', `/v1/entities?q=${pre}&limit=1000`)).body;
  check(all.total > 5, `a prefix with many records (${pre}: ${all.total})`);
  await page.goto(`${base}/ui/#/search?q=${pre}&limit=5`);
  await page.locator('#next-page').click();
  await page.locator('#result-count', { hasText: /^6–/ }).waitFor();
  const second = await page.locator('.results a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
  check(second.length === 5 && second[0] === `#/entity/${all.items[5].id}`, 'the second page is the ranked list\'s second page');
});

// defect 4 and merge by search with a look at both first
await test(page, 'merge_by_search_once', async () => {
  const a = live('W-3');
  const b = live('W-4');
  await page.goto(`${base}/ui/#/entity/${a}`);
  await page.getByRole('heading', { name: 'Golden record', exact: true }).waitFor();
  await page.locator('#merge-find').fill('Zora Quarrington');
  await page.locator('#merge-search').click();
  await page.locator('#merge-results button', { hasText: `#${b}` }).click();
  await page.locator('#merge-compare').waitFor();
  check((await page.locator('#merge-compare').textContent()).includes('Zora'), 'both golden records shown before the merge');
  check(await page.locator('#merge-compare td.after').count() > 3, 'and the survivorship result');
  await screens(page, 'entity-merge-preview');
  await page.goto(`${base}/ui/#/entity/${a}`);
  await page.getByRole('heading', { name: 'Golden record', exact: true }).waitFor();
  await page.locator('#merge-find').fill('zora.q@example.org');
  await page.locator('#merge-find').press('Enter');
  await page.locator('#merge-results button', { hasText: `#${b}` }).click();
  await page.locator('#merge-compare').waitFor();
  const preview = {};
  for (const row of await page.locator('#merge-compare tbody tr').all()) {
    preview[await row.getAttribute('data-attr')] = (await row.locator('td.after').textContent()).replace(/ [a-z_]+$/, '');
  }
  const posts = [];
  page.on('request', (r) => { if (r.method() === 'POST' && r.url().endsWith('/merge')) posts.push(r.url()); });
  await page.locator('#merge-confirm').dblclick();
  await page.locator('#status', { hasText: 'Merged' }).waitFor();
  await page.waitForTimeout(300);
  check(posts.length === 1, `one merge request (${posts.length})`);
  check(!(await page.locator('#status').textContent()).includes('onflict'), 'no version conflict');
  check(live('W-3') === live('W-4'), 'merged');
  // the preview was the survivorship result: the merged golden record shows the same values
  const merged = await entity(live('W-3'));
  for (const n of ['first_name', 'last_name', 'birth_date']) {
    check(preview[n] === String(merged.golden[n]), `preview of ${n} (${preview[n]}) is the result (${merged.golden[n]})`);
  }
  check(preview.emails.includes('zelda.q@example.org') && preview.emails.includes('zora.q@example.org'), 'e-mails united');
});

// defect 2: the undo acts on the merge clicked
await test(page, 'undo_the_merge_clicked', async () => {
  const a = live('W-3');
  const c = live('W-5');
  const b = ent['W-4'];
  const m = await api('POST', `/v1/entities/${a}/merge`, { other: c, reason: 'test' });
  check(m.status === 200, `second merge (${m.status})`);
  await page.goto(`${base}/ui/#/entity/${a}`);
  await page.getByRole('heading', { name: 'History' }).waitFor();
  await page.getByRole('button', { name: `Undo the merge of entity ${b}` }).click();
  await page.locator('#status', { hasText: 'Merge undone' }).waitFor();
  check(live('W-4') !== a, 'the clicked merge (W-4) is undone');
  check(live('W-5') === a, 'the later merge (W-5) stands');
  await page.getByRole('button', { name: `Undo the merge of entity ${c}` }).click();
  await page.locator('#status', { hasText: 'Merge undone' }).waitFor();
  check(live('W-5') !== a, 'and the other one can be undone too');
});

// defect 3 and 5: a merged-away id says so, pins go to the survivor, typed values are checked
await test(page, 'merged_away_and_pins', async () => {
  const a = live('W-3');
  const c = live('W-5');
  const al = await api('POST', '/v1/assertions', { kind: 'always_link',
    record_a: Number(sql("SELECT id FROM source_record WHERE source_key = 'W-3'")),
    record_b: Number(sql("SELECT id FROM source_record WHERE source_key = 'W-5'")), reason: 'same after all' });
  check(al.status === 200, `always_link (${al.status})`);
  const m = await api('POST', `/v1/entities/${a}/merge`, { other: c });
  check(m.status === 200, `merge (${m.status})`);
  const retired = Math.max(a, c);
  const survivor = Math.min(a, c);
  await page.goto(`${base}/ui/#/entity/${retired}`);
  const note = await page.locator('#merged-away').textContent();
  // the undo's message belonged to the entity it was said on, not to this one
  check((await page.locator('#status').textContent()).trim() === '', `no message of another entity (${await page.locator('#status').textContent()})`);
  check(note.includes(`Entity ${retired} was merged into entity ${survivor}`), `says so (${note})`);
  await screens(page, 'entity-merged-away');
  const before = await entity(survivor);
  await page.getByRole('button', { name: 'Pin birth_date' }).click();
  await page.locator('#pin-value').fill('yesterday');
  await page.locator('#pin-dialog button[type=submit]').click();
  await page.locator('#pin-error', { hasText: 'not a valid date' }).waitFor();
  await screens(page, 'entity-pin', { fullPage: false });
  check((await entity(survivor)).golden.birth_date === before.golden.birth_date, 'golden birth date unchanged');
  await page.getByRole('button', { name: 'Cancel' }).click();
  await page.getByRole('button', { name: 'Pin first_name' }).click();
  await page.locator('#pin-dialog label', { hasText: 'Zane' }).click();
  await page.locator('#pin-reason').fill('as on the passport');
  await page.locator('#pin-dialog button[type=submit]').click();
  await page.locator('#status', { hasText: 'first_name pinned' }).waitFor();
  const after = await entity(survivor);
  check(after.golden.first_name === 'Zane' && after.lineage.first_name.pinned, `pinned on the survivor (${after.golden.first_name})`);
  await page.getByRole('button', { name: 'Pin birth_date' }).click();
  await page.locator('#pin-value').fill('1990-01-01');
  await page.locator('#pin-dialog button[type=submit]').click();
  await page.locator('#status', { hasText: 'birth_date pinned' }).waitFor();
  check((await entity(survivor)).golden.birth_date === '1990-01-01', 'a valid typed date is pinned');
  const overflow = await screens(page, 'entity');
  check(overflow <= 1, `no horizontal scrolling at 390 px (${overflow}px)`);
  // at 390 px a value of one word is not broken inside the word ("Quarringt|on")
  await page.setViewportSize({ width: 390, height: 844 });
  const broken = await page.locator('table.golden tbody td, #source-records tbody td').evaluateAll((tds) => tds
    .filter((td) => /^[\p{L}\p{N}+-]{2,14}$/u.test(td.textContent.trim()))
    .filter((td) => { const r = document.createRange(); r.selectNodeContents(td); const b = [...r.getClientRects()].map((x) => x.bottom);
      return Math.max(...b) - Math.min(...b) > 8; })
    .map((td) => td.textContent.trim()));
  await page.setViewportSize({ width: 1280, height: 800 });
  check(broken.length === 0, `words broken at 390 px: ${broken.join(', ')}`);
  timings.entity = await timeToUsable(page, `${base}/ui/#/entity/${survivor}`, '#source-records');
});

await test(page, 'split', async () => {
  const id = live('W-3');
  await page.goto(`${base}/ui/#/entity/${id}`);
  await page.getByLabel('Select crm:W-5 to split off').check();
  await page.locator('#split-reason').fill('different birth dates');
  await page.getByRole('button', { name: 'Split selected records' }).click();
  await page.locator('#status', { hasText: 'Split' }).waitFor();
  check(live('W-5') !== live('W-3'), 'W-5 has a golden record of its own');
});

// issue 22 item 5: the history's "Undo this split" puts the record back
await test(page, 'split_undo', async () => {
  const id = live('W-3');
  await page.goto(`${base}/ui/#/entity/${id}`);
  await page.getByRole('button', { name: /Undo the split into entity/ }).first().click();
  await page.locator('#status', { hasText: 'Split undone' }).waitFor();
  check(live('W-5') === live('W-3'), 'W-5 is back with W-3');
});

// tax and national ids: masked for a steward, whole for admin
await test(page, 'ids_masked_by_role', async () => {
  const id = Number(sql(`SELECT id FROM entity WHERE status = 'active' AND golden ? 'tax_id' ORDER BY id LIMIT 1`));
  check(id > 0, 'an entity with a tax id');
  const full = (await entity(id, admin)).golden.tax_id;
  const masked = (await entity(id)).golden.tax_id;
  check(masked !== full && /^\*+.{0,4}$/.test(masked) && full.endsWith(masked.replace(/^\*+/, '')), `masked (${masked})`);
  await page.goto(`${base}/ui/#/entity/${id}`);
  const cell = await page.locator('table.golden tr[data-attr="tax_id"] td').first().textContent();
  check(cell === masked && !cell.includes(full), `the screen shows the mask (${cell})`);
  const recs = await page.locator('#source-records').textContent();
  check(!recs.includes(full), 'no source record shows it either');
});

// issue 22: the entity screen says where each subscribed system stands
await test(page, 'entity_propagation', async () => {
  const id = live('W-3');
  let p = null;
  for (let i = 0; i < 100; i++) { // the fan-out runs in the server's own thread
    p = (await api('GET', `/v1/entities/${id}/propagation`)).body;
    if (p.systems && p.systems.length) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  check(p.systems.length === 1 && p.systems[0].source === 'crm', `the CRM is subscribed (${JSON.stringify(p.systems)})`);
  await page.goto(`${base}/ui/#/entity/${id}`);
  const row = page.locator('#propagation tr[data-source="crm"]');
  await row.waitFor();
  check(await row.getAttribute('data-state') === p.systems[0].state, `the row shows the API's state (${p.systems[0].state})`);
  const text = await row.textContent();
  check(p.systems[0].state !== 'current' && /\d+ changes?, oldest/.test(text) && /SLA 60 s/.test(text),
    `a system that is down shows what waits and its SLA (${text})`);
  await screens(page, 'entity-propagation');
});

await test(page, 'entity_no_script_errors', async () => {
  check(replyProblems.length === 0, `replies that do not match their schema: ${[...new Set(replyProblems)].join('; ')}`);
  check(errors.length === 0, `page errors: ${errors.join('; ')}`);
});

console.log(`timings ms (best of 3, navigation start to usable, in page / wall): ${JSON.stringify(timings)} load ${os.loadavg()[0].toFixed(1)}`);
for (const [k, v] of Object.entries(timings)) if (v.ms > 300) console.log(`note: ${k} took ${v.ms} ms`);
await close();
finish();
