// Steward UI end to end: sign in, open the queue, accept a pair (then check through the
// API that the entities merged), reject one (then check the never_link assertion), open
// the entity view and see lineage, search, the layout at 1280x800 and 390x844, and the
// Audit tab by role (hidden for a steward key, whose audit view explains; shown for admin).
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

const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mdm-chromium-'));
const ctx = await chromium.launchPersistentContext(userDataDir, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1280, height: 800 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'], // plus a fresh --user-data-dir: userDataDir above
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

const recordId = (src, k) => Number(sql(`SELECT id FROM source_record WHERE source = '${src}' AND source_key = '${k}'`));
const entityOf = (rid) => Number(sql(`SELECT entity_id FROM membership WHERE record_id = ${rid} AND active`));
const itemOf = (rid) => Number(sql(`SELECT id FROM review_item WHERE record_id = ${rid}`));
const ann = recordId('crm', 'C-1');
const anne = recordId('loyalty', 'L-1');
const bob = recordId('crm', 'C-2');
const robert = recordId('loyalty', 'L-2');
const annEntity = entityOf(ann);
const anneEntity = entityOf(anne);

await test('sign_in', async () => {
  await page.goto(`${base}/ui/`);
  await page.getByLabel('API key').fill('not-a-key');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#signin-error').filter({ hasText: 'not valid' }).waitFor();
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Review queue' }).waitFor();
  check(await page.evaluate(() => sessionStorage.getItem('mdm.steward.key')) === key, 'key kept in sessionStorage');
  check(await page.evaluate(() => localStorage.length) === 0, 'nothing in localStorage');
});

await test('queue_and_compare', async () => {
  const items = page.locator('.queue-list .item');
  await items.first().waitFor();
  check(await items.count() === 2, 'two open items');
  await page.locator('.queue-list .item', { hasText: 'Anne Lee' }).click();
  await page.locator('table.compare').first().waitFor();
  const differ = await page.locator('table.compare tr.differ th').allTextContents();
  check(differ.includes('first name'), `first name differs (differing: ${differ})`);
  check(!differ.includes('last name'), 'last name agrees');
  check(await page.locator('.bar.pos').count() >= 4, 'weight bars');
});

await test('accept_merges', async () => {
  const id = itemOf(anne);
  await page.keyboard.press('a');
  await page.locator('#status', { hasText: 'Accepted' }).waitFor();
  const item = await api('GET', `/v1/review/${id}`);
  check(item.status === 200 && item.body.status === 'decided' && item.body.decision === 'match', 'item decided as match');
  const a = await api('GET', `/v1/entities/${annEntity}`);
  const b = await api('GET', `/v1/entities/${anneEntity}`);
  const older = Math.min(annEntity, anneEntity);
  const younger = Math.max(annEntity, anneEntity);
  const live = older === annEntity ? a : b;
  const gone = younger === anneEntity ? b : a;
  check(live.status === 200 && live.body.status === 'active', 'survivor is active');
  check((live.body.members || []).length === 2, 'survivor holds both records');
  check(gone.body.status === 'retired' || gone.body.id === older, 'the other entity is retired');
});

await test('reject_asserts', async () => {
  const id = itemOf(robert);
  await page.locator('.queue-list .item', { hasText: 'Robert Roy' }).click();
  await page.locator('h2', { hasText: `Review item ${id}` }).waitFor();
  await page.getByLabel('Reason').fill('different birth dates');
  await page.getByRole('button', { name: /Reject/ }).click();
  await page.locator('#status', { hasText: 'Rejected' }).waitFor();
  const item = await api('GET', `/v1/review/${id}`);
  check(item.body.status === 'decided' && item.body.decision === 'no_match', 'item decided as no_match');
  const n = Number(sql(`SELECT count(*) FROM steward_assertion WHERE kind = 'never_link'
    AND record_a = ${Math.min(bob, robert)} AND record_b = ${Math.max(bob, robert)}`));
  check(n === 1, 'never_link assertion stored');
  check(entityOf(bob) !== entityOf(robert), 'still two entities');
  await page.locator('.queue-list .empty').waitFor();
});

await test('entity_lineage', async () => {
  const survivor = entityOf(ann);
  await page.goto(`${base}/ui/#/entity/${survivor}`);
  await page.getByRole('heading', { name: 'Golden record' }).waitFor();
  const rows = page.locator('table.golden tbody tr');
  check(await rows.count() >= 3, 'golden values listed');
  const lineage = await page.locator('table.golden td.lineage').allTextContents();
  check(lineage.some((t) => /from (crm|loyalty):/.test(t)), `lineage names the winning source (${lineage[0]})`);
  check(lineage.some((t) => /[a-z_]{4,}/.test(t)), 'lineage names the rule');
  check(await page.locator('table.members tbody tr').count() === 2, 'two members');
  await page.getByRole('heading', { name: 'History' }).waitFor();
});

await test('search_by_name', async () => {
  await page.goto(`${base}/ui/#/search?by=name&q=Lee`);
  await page.locator('.results a').first().waitFor();
  await page.locator('.results a').first().click();
  await page.getByRole('heading', { name: 'Golden record' }).waitFor();
});

await test('narrow_screen', async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${base}/ui/#/queue?status=decided`);
  await page.locator('.queue-list .item').first().click();
  await page.locator('table.compare').first().waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 1, `no horizontal scrolling (overflow ${overflow}px)`);
  const unlabeled = await page.evaluate(() => [...document.querySelectorAll('input, select, button')]
    .filter((el) => !el.labels?.length && !el.getAttribute('aria-label') && !el.textContent.trim()).length);
  check(unlabeled === 0, `every control has a label (${unlabeled} without)`);
  await page.setViewportSize({ width: 1280, height: 800 });
});

await test('audit_hidden_for_steward', async () => {
  // a steward key: no Audit tab, and the view explains instead of failing
  await page.goto(`${base}/ui/#/audit`);
  await page.locator('#audit-forbidden', { hasText: 'Your role cannot see the audit log' }).waitFor();
  await page.locator('nav [data-nav=audit]').waitFor({ state: 'hidden' });
  check(await page.locator('#status[data-kind=error]').count() === 0 || !(await page.locator('#status').textContent()),
    'no error message');
});

await test('audit_for_admin', async () => {
  // an admin key: the tab is there and the log lists rows with the chain check
  const admin = execFileSync(process.env.MDM_BIN, ['apikey', 'create', '--role', 'admin', '--name', 'ui-admin'],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('API key').fill(admin);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Review queue' }).waitFor();
  await page.locator('nav [data-nav=audit]').waitFor({ state: 'visible' });
  await page.locator('nav [data-nav=audit]').click();
  await page.locator('p[role=status]', { hasText: 'Hash chain intact' }).waitFor();
  check(await page.locator('table.audit tbody tr').count() > 0, 'audit rows listed');
});

await test('no_script_errors', async () => {
  check(pageErrors.length === 0, `page errors: ${pageErrors.join('; ')}`);
});

await ctx.close();
fs.rmSync(userDataDir, { recursive: true, force: true });
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
