// Steward UI, household moves and splits (issue 21): on the entity screen a steward moves
// the person to another household (a dialog: household id, reason) and splits the
// person's household (a dialog: tick the members who leave, reason); an unknown household
// is refused in the dialog; the API, the audit log and the screen agree afterwards. The
// data: the pipeline's synth population (run.sh); the cases are found with read-only SQL.
import { watchReplies, base, api, sql, check, launch, test, screens, signIn, finish } from './lib.mjs';

// a household of three or more (the split) and a person of another household at another
// address (the move)
const [H, lv] = sql(`SELECT household_id, min(entity_id) FROM household_member GROUP BY household_id
  HAVING count(*) >= 3 ORDER BY household_id LIMIT 1`).split('|').map(Number);
const [X, from] = sql(`SELECT hm.entity_id, hm.household_id FROM household_member hm JOIN household h ON h.id = hm.household_id
  WHERE h.addr_hash <> (SELECT addr_hash FROM household WHERE id = ${H || 0})
  AND (SELECT count(*) FROM household_member o WHERE o.household_id = hm.household_id) >= 2
  ORDER BY hm.entity_id LIMIT 1`).split('|').map(Number);

const { page, errors, close } = await launch();
const replyProblems = await watchReplies(page);

await test(page, 'household_steward_sign_in', async () => {
  check(H && lv && X && from, `the cases (household ${H}, leaver ${lv}, person ${X} of ${from})`);
  await signIn(page);
});

await test(page, 'move_refuses_an_unknown_household', async () => {
  await page.goto(`${base}/ui/#/entity/${X}`);
  await page.locator(`#household[data-household="${from}"]`).waitFor();
  await page.getByRole('button', { name: 'Move to another household…' }).click();
  await page.locator('#household-dialog[open]').waitFor();
  await page.locator('#household-target').fill('999999999');
  await page.locator('#household-reason').fill('wrong number');
  await page.getByRole('button', { name: 'Move', exact: true }).click();
  await page.locator('#household-error', { hasText: 'no such household' }).waitFor();
  check((await api('GET', `/v1/entities/${X}/household`)).body.id === from, 'nothing moved');
  await page.getByRole('button', { name: 'Cancel' }).click();
});

await test(page, 'steward_moves_a_person', async () => {
  await page.goto(`${base}/ui/#/entity/${X}`);
  await page.locator(`#household[data-household="${from}"]`).waitFor();
  await page.getByRole('button', { name: 'Move to another household…' }).click();
  await page.locator('#household-target').fill(String(H));
  await page.locator('#household-reason').fill('moved in with her partner');
  const overflow = await screens(page, 'household-move-dialog', { fullPage: false });
  check(overflow <= 0, `no sideways scrolling at 390 px (${overflow} px)`);
  await page.getByRole('button', { name: 'Move', exact: true }).click();
  await page.locator('#status', { hasText: `moved to household ${H}` }).waitFor();
  await page.locator(`#household[data-household="${H}"]`).waitFor();
  check(await page.locator(`#household li[data-entity="${lv}"]`).count() === 1, 'the new housemates are listed');
  check((await api('GET', `/v1/entities/${X}/household`)).body.id === H, 'the API agrees');
  const old = (await api('GET', `/v1/households/${from}`)).body;
  check(!old.members.some((m) => m.entity_id === X), 'the old household no longer lists the person');
  check(Number(sql(`SELECT count(*) FROM audit_log WHERE action = 'household.move' AND target = 'entity:${X}' AND role = 'steward'`)) === 1,
    'one audit row by the steward');
  await screens(page, 'entity-household-moved');
});

await test(page, 'steward_splits_a_household', async () => {
  const before = (await api('GET', `/v1/households/${H}`)).body;
  const leaving = before.members.map((m) => m.entity_id).filter((e) => e !== lv).slice(0, 2);
  await page.goto(`${base}/ui/#/entity/${lv}`);
  await page.locator(`#household[data-household="${H}"]`).waitFor();
  await page.getByRole('button', { name: 'Split this household…' }).click();
  for (const e of leaving) await page.locator(`#household-leave-${e}`).check();
  await page.locator('#household-reason').fill('two flats now');
  const overflow = await screens(page, 'household-split-dialog', { fullPage: false });
  check(overflow <= 0, `no sideways scrolling at 390 px (${overflow} px)`);
  await page.getByRole('button', { name: 'Split off' }).click();
  await page.locator('#status', { hasText: `Household ${H} split` }).waitFor();
  const stays = (await api('GET', `/v1/households/${H}`)).body;
  check(leaving.every((e) => !stays.members.some((m) => m.entity_id === e)), 'the ticked members left');
  check(stays.members.some((m) => m.entity_id === lv), 'this person stays');
  const hh2 = (await api('GET', `/v1/entities/${leaving[0]}/household`)).body;
  check(hh2.id !== H && hh2.members.map((m) => m.entity_id).sort().join() === [...leaving].sort().join(),
    `they are together in a new household (${hh2.id}: ${hh2.members.map((m) => m.entity_id)})`);
  check(Number(sql(`SELECT count(*) FROM audit_log WHERE action = 'household.split' AND after->>'household_id' = '${hh2.id}'`)) === leaving.length,
    'audited once per member who left');
  await page.locator(`#household[data-household="${H}"]`).waitFor();
  check(await page.locator(`#household li[data-entity="${leaving[0]}"]`).count() === 0, 'the screen shows who stays');
  await screens(page, 'entity-household-split');
});

await test(page, 'household_steward_no_script_errors', async () => {
  check(replyProblems.length === 0, `replies that do not match their schema: ${[...new Set(replyProblems)].join('; ')}`);
  check(errors.length === 0, `page errors: ${errors.join('; ')}`);
});

await close();
finish();
