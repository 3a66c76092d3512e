// Steward UI, households and related records (issue 21; closes the related-records gap of
// issue 16): the entity screen shows the golden record's household (members, roles, the
// address) and its related golden records (same address, steward-asserted); a steward
// marks another golden record as related with a reason and removes it again; the review
// screen shows the related records of both sides beside the evidence. The data: the
// pipeline's synth population plus a couple and their roommate sent over HTTP by the CRM.
import { watchReplies, base, api, sql, check, launch, test, screens, signIn, newKey, finish } from './lib.mjs';

const crm = newKey('source', ['--source', 'crm']);
const people = [
  { customer_id: 'HH-A', first_name: 'Orla', last_name: 'Fennimore', email: 'orla.f@example.org', phone: '(217) 555-0301',
    street: '21 Tamarack Road', city: 'Springfield', state: 'IL', zip: '62711', birth_date: '1961-06-01' },
  { customer_id: 'HH-B', first_name: 'Piers', last_name: 'Fennimore', email: 'piers.f@example.org', phone: '(217) 555-0301',
    street: '21 Tamarack Rd', city: 'Springfield', state: 'IL', zip: '62711', birth_date: '1963-02-14' },
  { customer_id: 'HH-C', first_name: 'Quinta', last_name: 'Osterhagen', email: 'quinta.o@example.org', phone: '(217) 555-0377',
    street: '21 Tamarack Road', city: 'Springfield', state: 'IL', zip: '62711', birth_date: '1994-10-10' },
];
const ent = {};
for (const p of people) {
  const r = await api('POST', '/v1/sources/crm/records', p, crm);
  if (r.status !== 200 && r.status !== 201) throw new Error(`ingest ${p.customer_id}: ${r.status} ${JSON.stringify(r.body)}`);
  ent[p.customer_id] = r.body.entity_id;
}
const other = Number(sql(`SELECT min(id) FROM entity WHERE status = 'active' AND id NOT IN (${Object.values(ent).join(',')})`));

const { page, errors, close } = await launch();
const replyProblems = await watchReplies(page);

await test(page, 'households_sign_in', async () => {
  await signIn(page);
});

await test(page, 'entity_shows_household_and_related', async () => {
  await page.goto(`${base}/ui/#/entity/${ent['HH-B']}`);
  await page.locator('#household').waitFor();
  const hh = await page.locator('#household').textContent();
  check(hh.includes('2 members') && hh.includes('21 Tamarack'), `household block (${hh})`);
  const head = await page.locator(`#household li[data-entity="${ent['HH-A']}"] .badge`).textContent();
  check(head === 'head', `Orla (older) is head (${head})`);
  check(await page.locator(`#household a[href="#/entity/${ent['HH-A']}"]`).count() === 1, 'a link to the other member');
  const roommate = page.locator(`#household-section ul.related li[data-entity="${ent['HH-C']}"]`);
  check((await roommate.getAttribute('data-type')) === 'same_address', 'the roommate is related by address');
  const overflow = await screens(page, 'entity-household');
  check(overflow <= 0, `no sideways scrolling at 390 px (${overflow} px)`);
});

await test(page, 'steward_marks_related_and_removes', async () => {
  await page.goto(`${base}/ui/#/entity/${ent['HH-A']}`);
  await page.locator('#relate-form').waitFor();
  await page.locator('#relate-other').fill(String(other));
  await page.locator('#relate-reason').fill('guarantor on the account');
  await page.getByRole('button', { name: 'Mark as related' }).click();
  const item = page.locator(`#household-section ul.related li[data-entity="${other}"]`);
  await item.waitFor();
  check((await item.textContent()).includes('guarantor on the account'), 'the reason is shown');
  const rel = (await api('GET', `/v1/entities/${other}/related`)).body;
  check(rel.items.some((r) => r.entity_id === ent['HH-A'] && r.type === 'related'), 'the other side sees it too');
  check(Number(sql(`SELECT count(*) FROM audit_log WHERE action = 'relation.assert' AND target = 'entity:${Math.min(other, ent['HH-A'])}'`)) === 1,
    'one audit row');
  await screens(page, 'entity-related');
  await item.getByRole('button', { name: /Remove/ }).click();
  await page.locator('#status', { hasText: 'removed' }).waitFor();
  check(await page.locator(`#household-section ul.related li[data-entity="${other}"]`).count() === 0, 'gone after Remove');
});

await test(page, 'review_shows_related_records', async () => {
  // an open item whose golden record lives with others, else any open item
  const withHousehold = sql(`SELECT r.id FROM review_item r JOIN household_member hm ON hm.entity_id = r.entity_id
    WHERE r.status IN ('open', 'deferred') AND (SELECT count(*) FROM household_member x WHERE x.household_id = hm.household_id) > 1
    ORDER BY r.id LIMIT 1`);
  const id = withHousehold || sql(`SELECT min(id) FROM review_item WHERE status IN ('open', 'deferred')`);
  check(id, 'an open review item');
  await page.goto(`${base}/ui/#/review/${id}`);
  await page.locator('#related').waitFor();
  const item = (await api('GET', `/v1/review/${id}`)).body;
  const shown = await page.locator('#related li').evaluateAll((lis) => lis.map((li) => Number(li.dataset.entity)));
  const expected = (item.b.related || []).map((r) => r.entity_id);
  check(expected.every((e) => shown.includes(e)), `the proposed entity's related records are listed (${shown} / ${expected})`);
  if (withHousehold) check(expected.length > 0, 'the household members are among them');
  const overflow = await screens(page, 'review-related');
  check(overflow <= 0, `no sideways scrolling at 390 px (${overflow} px)`);
});

await test(page, 'households_no_script_errors', async () => {
  check(replyProblems.length === 0, `replies that do not match their schema: ${[...new Set(replyProblems)].join('; ')}`);
  check(errors.length === 0, `page errors: ${errors.join('; ')}`);
});

await close();
finish();
