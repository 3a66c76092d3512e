// Steward UI, entity view actions end to end: merge another golden record in, undo that
// merge from the history (both golden records exactly as before), pin a golden value
// (with the keyboard only), and split a source record off — each driven in
// the browser, each checked afterwards through the API (and the database for the split's
// never_link assertions), each leaving a screenshot in build/browser/. Works on records
// of its own (source keys E-*), so the queue fixtures of steward.mjs stay untouched.
// Environment from run.sh: MDM_BASE, MDM_KEY, MDM_SHOTS, MDM_DATABASE_URL.
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const base = process.env.MDM_BASE;
const key = process.env.MDM_KEY;
const shots = process.env.MDM_SHOTS;
let passed = 0;
let failed = 0;

function sql(text) {
  return execFileSync('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', process.env.MDM_DATABASE_URL, '-c', text],
    { encoding: 'utf8' }).trim();
}

async function api(method, p, body) {
  const res = await fetch(base + p, {
    method,
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

// Five records, each its own golden record, built like seed.sql does.
sql(`WITH r(source, key, doc) AS (VALUES
  ('crm', 'E-1', '{"source": "crm", "source_key": "E-1", "first_name": "Carla", "last_name": "Mendes", "birth_date": "1988-04-12", "emails": [{"value": "carla.mendes@example.org", "type": "home"}]}'),
  ('loyalty', 'E-2', '{"source": "loyalty", "source_key": "E-2", "first_name": "Carla", "last_name": "Mendes", "birth_date": "1988-04-12", "loyalty_id": "LY77"}'),
  ('crm', 'E-3', '{"source": "crm", "source_key": "E-3", "first_name": "Dario", "last_name": "Fox", "birth_date": "1990-09-09"}'),
  ('loyalty', 'E-4', '{"source": "loyalty", "source_key": "E-4", "first_name": "Dara", "last_name": "Fox", "birth_date": "1993-01-20"}'))
INSERT INTO source_record (source, source_key, raw, normalized, content_hash, source_updated_at)
SELECT source, key, doc::jsonb, doc::jsonb, md5(doc), now() - interval '1 day' FROM r`);
sql(`WITH n AS (SELECT id AS rid, normalized FROM source_record WHERE source_key LIKE 'E-%'),
  e AS (INSERT INTO entity (golden) SELECT normalized - 'source' - 'source_key' FROM n ORDER BY rid RETURNING id),
  pairs AS (SELECT rid, eid FROM (SELECT rid, row_number() OVER (ORDER BY rid) k FROM n) a
            JOIN (SELECT id AS eid, row_number() OVER (ORDER BY id) k FROM e) b USING (k)),
  m AS (INSERT INTO membership (record_id, entity_id) SELECT rid, eid FROM pairs RETURNING record_id, entity_id),
  g AS (INSERT INTO golden_value (entity_id, attr, value, source_record_id, rule)
        SELECT p.eid, kv.key, kv.value, p.rid, 'source_trust' FROM pairs p JOIN n ON n.rid = p.rid,
        jsonb_each(n.normalized - 'source' - 'source_key') kv RETURNING 1)
INSERT INTO link_event (action, method, entity_id, record_id, actor)
SELECT 'create', 'auto', entity_id, record_id, 'system' FROM m`);

const recordId = (k) => Number(sql(`SELECT id FROM source_record WHERE source_key = '${k}'`));
const entityOf = (rid) => Number(sql(`SELECT entity_id FROM membership WHERE record_id = ${rid} AND active`));
const carla1 = recordId('E-1');
const carla2 = recordId('E-2');
const dario = recordId('E-3');
const dara = recordId('E-4');

const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mdm-chromium-'));
const ctx = await chromium.launchPersistentContext(userDataDir, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1280, height: 800 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const page = ctx.pages()[0] || await ctx.newPage();
const pageErrors = [];
page.on('pageerror', (e) => pageErrors.push(e.message));
page.setDefaultTimeout(10000);

async function test(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok   ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e.message}`);
  }
  try {
    await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
  } catch (e) {
    console.log(`     (no screenshot: ${e.message})`);
  }
}

await test('entity_sign_in', async () => {
  await page.goto(`${base}/ui/`);
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Review queue' }).waitFor();
});

let premerge = null; // both golden records before the merge, for the undo

// The SQL fixture's golden records are the records' own values, not what survivorship
// computes; a pin and its removal make survivorship compute each one for real, so the
// undo below can be compared with a golden record the service itself produced.
for (const rid of [carla1, carla2, dario, dara]) {
  const id = entityOf(rid);
  const pin = await api('PUT', `/v1/entities/${id}/pins/segment`, { value: 'x' });
  const unpin = await api('DELETE', `/v1/entities/${id}/pins/segment`);
  if (pin.status !== 200 || unpin.status !== 200) throw new Error(`fixture pin/unpin: ${pin.status} ${unpin.status}`);
}

await test('entity_merge', async () => {
  const a = entityOf(carla1);
  const b = entityOf(carla2);
  check(a !== b, 'two golden records before');
  premerge = { [a]: (await api('GET', `/v1/entities/${a}`)).body, [b]: (await api('GET', `/v1/entities/${b}`)).body };
  await page.goto(`${base}/ui/#/entity/${b}`);
  await page.getByRole('heading', { name: 'Golden record' }).waitFor();
  await page.getByLabel('Entity id').fill(String(a));
  await page.locator('#merge-reason').fill('same e-mail and birth date');
  await page.getByRole('button', { name: 'Merge', exact: true }).click();
  await page.locator('#status', { hasText: 'Merged' }).waitFor();
  const survivor = Math.min(a, b);
  await page.locator('#entity-title', { hasText: `Entity ${survivor}` }).waitFor();
  const live = await api('GET', `/v1/entities/${survivor}`);
  check(live.status === 200 && live.body.status === 'active', 'the older id survives');
  const members = (live.body.members || []).map((m) => m.record_id).sort();
  check(JSON.stringify(members) === JSON.stringify([carla1, carla2].sort()), `both records in it (${members})`);
  const gone = Number(sql(`SELECT survivor_id FROM entity WHERE id = ${Math.max(a, b)} AND status = 'retired'`));
  check(gone === survivor, 'the other one is retired into it');
  check(await page.locator('table.members tbody tr').count() === 2, 'the view lists two members');
  const audit = Number(sql(`SELECT count(*) FROM audit_log WHERE action = 'entity.merge' AND target = 'entity:${survivor}'
    AND reason = 'same e-mail and birth date'`));
  check(audit === 1, 'merge audited with its reason');
});

await test('entity_undo_merge', async () => {
  const survivor = entityOf(carla1);
  const retired = Number(Object.keys(premerge).find((k) => Number(k) !== survivor));
  await page.goto(`${base}/ui/#/entity/${survivor}`);
  await page.getByRole('heading', { name: 'History' }).waitFor();
  await page.getByRole('button', { name: 'Undo this merge' }).click();
  await page.locator('#status', { hasText: 'Merge undone' }).waitFor();
  for (const id of [survivor, retired]) {
    const now = (await api('GET', `/v1/entities/${id}`)).body;
    const was = premerge[id];
    check(now.status === 'active', `entity ${id} active`);
    check(JSON.stringify(now.golden) === JSON.stringify(was.golden), `entity ${id}: golden record as before the merge`);
    check(JSON.stringify(now.lineage) === JSON.stringify(was.lineage), `entity ${id}: lineage as before the merge`);
    check(JSON.stringify(now.members.map((m) => m.record_id)) === JSON.stringify(was.members.map((m) => m.record_id)),
      `entity ${id}: members as before the merge`);
    check(now.version > was.version, `entity ${id}: version moved on`);
  }
  // merged again by the steward for the pin test below (the undo left never_link
  // between them, which a manual merge also obeys: so remove it first, as a steward would)
  const ra = Math.min(carla1, carla2);
  const rb = Math.max(carla1, carla2);
  const al = await api('POST', '/v1/assertions', { kind: 'always_link', record_a: ra, record_b: rb, reason: 'same after all' });
  check(al.status === 200, `always_link replaces the never_link (${al.status})`);
  const again = await api('POST', `/v1/entities/${survivor}/merge`, { other: retired });
  check(again.status === 200, `merged again (${again.status})`);
});

await test('entity_pin_keyboard', async () => {
  const id = entityOf(carla1);
  await page.goto(`${base}/ui/#/entity/${id}`);
  await page.reload(); // the same address as before the API merge above: load it afresh
  await page.locator('table.members tbody tr').nth(1).waitFor();
  const before = (await api('GET', `/v1/entities/${id}`)).body.version;
  await page.getByRole('button', { name: 'Pin first_name' }).focus();
  await page.keyboard.press('Enter');
  const dialog = page.locator('#pin-dialog');
  await dialog.waitFor();
  check(await page.evaluate(() => document.activeElement.id) === 'pin-value', 'the value field has the focus');
  await page.keyboard.press('Control+A');
  await page.keyboard.type('Carla Sofia');
  await page.keyboard.press('Tab');
  await page.keyboard.type('as on her passport');
  await page.keyboard.press('Enter'); // the form's default button: Pin
  await page.locator('#status', { hasText: 'first_name pinned' }).waitFor();
  await page.locator('table.golden tr[data-attr="first_name"] .badge.pinned').waitFor();
  const e = await api('GET', `/v1/entities/${id}`);
  check(e.body.golden.first_name === 'Carla Sofia', `golden first name is the pin (${e.body.golden.first_name})`);
  check(e.body.lineage.first_name.pinned === true, 'lineage says pinned');
  check(e.body.version > before, 'version moved on');
  const pin = sql(`SELECT value #>> '{}' || '|' || reason FROM golden_pin WHERE entity_id = ${id} AND attr = 'first_name'`);
  check(pin === 'Carla Sofia|as on her passport', `pin stored with its reason (${pin})`);
});

await test('entity_split', async () => {
  // one golden record holding Dario and Dara (a steward merge through the API) ...
  const merged = await api('POST', `/v1/entities/${entityOf(dario)}/merge`, { other: entityOf(dara), reason: 'setup' });
  check(merged.status === 200, `setup merge (${merged.status})`);
  const id = merged.body.survivor;
  check(entityOf(dario) === id && entityOf(dara) === id, 'both in one golden record');
  // ... split apart in the browser: Dara's record moves to a new golden record
  await page.goto(`${base}/ui/#/entity/${id}`);
  await page.getByRole('heading', { name: 'Golden record' }).waitFor();
  await page.getByLabel('Select loyalty:E-4 to split off').check();
  await page.locator('#split-reason').fill('different birth dates');
  await page.getByRole('button', { name: 'Split selected records' }).click();
  await page.locator('#status', { hasText: 'Split' }).waitFor();
  await page.locator('table.members tbody tr').first().waitFor();
  check(await page.locator('table.members tbody tr').count() === 1, 'the view lists one member');
  const kept = await api('GET', `/v1/entities/${id}`);
  check((kept.body.members || []).length === 1 && kept.body.members[0].record_id === dario, 'Dario stays');
  const moved = entityOf(dara);
  check(moved && moved !== id, 'Dara has a golden record of her own');
  const other = await api('GET', `/v1/entities/${moved}`);
  check(other.status === 200 && other.body.status === 'active' && other.body.golden.first_name === 'Dara', 'and it is hers');
  const never = Number(sql(`SELECT count(*) FROM steward_assertion WHERE kind = 'never_link'
    AND record_a = ${Math.min(dario, dara)} AND record_b = ${Math.max(dario, dara)}`));
  check(never === 1, 'never_link between the parts');
});

await test('entity_no_script_errors', async () => {
  check(pageErrors.length === 0, `page errors: ${pageErrors.join('; ')}`);
});

await ctx.close();
fs.rmSync(userDataDir, { recursive: true, force: true });
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
