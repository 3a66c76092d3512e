// Shared by the browser tests: chromium through playwright-core, the HTTP API with the
// steward key (or another), read-only SQL for checks (never writes: the data comes from
// the real pipeline and the API), named tests that print "ok"/"FAIL", and screenshots of a
// screen at 1280x800 and 390 px wide in build/browser/.
// Environment from run.sh: MDM_BASE, MDM_KEY, MDM_SHOTS, MDM_DATABASE_URL, MDM_BIN.
import { chromium } from 'playwright-core';
import Ajv2020 from 'ajv/dist/2020.js';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const base = process.env.MDM_BASE;
export const key = process.env.MDM_KEY;
const shots = process.env.MDM_SHOTS;
let passed = 0;
let failed = 0;

// Read-only queries for checks (SELECT only).
export function sql(text) {
  if (!/^\s*SELECT\b/i.test(text)) throw new Error('tests only read the database');
  return execFileSync('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', process.env.MDM_DATABASE_URL, '-c', text],
    { encoding: 'utf8' }).trim();
}

export async function api(method, p, body, k = key) {
  const res = await fetch(base + p, {
    method,
    headers: { Authorization: `Bearer ${k}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

export function newKey(role, extra = []) {
  return execFileSync(process.env.MDM_BIN, ['apikey', 'create', '--role', role, '--name', `ui-${role}`, ...extra],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n').pop();
}

export function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

export async function launch() {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mdm-chromium-'));
  const ctx = await chromium.launchPersistentContext(userDataDir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  const page = ctx.pages()[0] || await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.setDefaultTimeout(10000);
  const close = async () => {
    await ctx.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  };
  return { page, errors, close };
}

export async function test(page, name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok   ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e.message.split('\n')[0]}`);
    try {
      await page.screenshot({ path: path.join(shots, `FAIL-${name}.png`), fullPage: true });
    } catch { /* none */ }
  }
}

// The screen as it is, at 1280x800 and at 390x844 (the layout follows the width: no
// reload, so the screen keeps its state), full length. Returns the horizontal overflow
// at 390 px in pixels (0: no sideways scrolling).
// A modal dialog is taken as the window shows it (fullPage: false): its backdrop covers
// the window, not the whole page.
export async function screens(page, name, { fullPage = true } = {}) {
  await page.screenshot({ path: path.join(shots, `${name}-1280.png`), fullPage });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(100);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  await page.screenshot({ path: path.join(shots, `${name}-390.png`), fullPage });
  await page.setViewportSize({ width: 1280, height: 800 });
  return overflow;
}

export async function signIn(page, k = key) {
  await page.goto(`${base}/ui/`);
  await page.getByLabel('API key').fill(k);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Review queue' }).waitFor();
}

// Milliseconds from navigation start to the screen being usable: selector (an element
// that exists only once the screen has drawn its data) appears in the page, timed in the
// page (performance.now(), a MutationObserver installed before any script runs), best of
// 3. wall is the same from the test's side (Playwright's own round trips included).
let usableHook = false;
export async function timeToUsable(page, url, selector) {
  if (!usableHook) {
    usableHook = true;
    await page.addInitScript(() => {
      let want = null;
      try { want = sessionStorage.getItem('mdm.test.usable'); } catch { /* about:blank */ }
      if (!want) return;
      new MutationObserver((_, o) => {
        if (document.querySelector(want)) { window.mdmUsableAt = performance.now(); o.disconnect(); }
      }).observe(document, { childList: true, subtree: true });
    });
  }
  let best = Infinity;
  let wall = Infinity;
  for (let i = 0; i < 3; i++) {
    await page.evaluate((s) => sessionStorage.setItem('mdm.test.usable', s), selector);
    await page.goto('about:blank');
    const t0 = Date.now();
    await page.goto(url);
    await page.locator(selector).first().waitFor();
    wall = Math.min(wall, Date.now() - t0);
    best = Math.min(best, await page.evaluate(() => window.mdmUsableAt));
  }
  await page.evaluate(() => sessionStorage.removeItem('mdm.test.usable'));
  return { ms: Math.round(best), wall };
}

// The OpenAPI document of the server (/v1/openapi.json), compiled: validate(method, url,
// status, body) answers null when the reply matches the schema of that route and status,
// else what is wrong. A route without a schema for the status is an error too.
export async function contract() {
  const spec = await (await fetch(`${base}/v1/openapi.json`)).json();
  const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: false });
  ajv.addSchema({ ...spec, $id: 'mdm-openapi' });
  const routes = Object.entries(spec.paths).map(([tpl, ops]) => ({
    tpl,
    ops,
    re: new RegExp(`^${tpl.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\\{[^}]+\\\}|\{[^}]+\}/g, '[^/]+')}$`),
  }));
  const cache = new Map();
  return (method, url, status, body) => {
    const u = new URL(url, base);
    const r = routes.filter((x) => x.re.test(u.pathname))
      .sort((a, b) => (a.tpl.match(/\{/g) || []).length - (b.tpl.match(/\{/g) || []).length)[0];
    const op = r && r.ops[method.toLowerCase()];
    if (!op) return `${method} ${u.pathname}: no such route in the OpenAPI document`;
    const resp = op.responses && op.responses[String(status)];
    const schema = resp && resp.content && resp.content['application/json'] && resp.content['application/json'].schema;
    if (!schema) return `${method} ${r.tpl} ${status}: no JSON schema for this reply`;
    const k = `${method} ${r.tpl} ${status}`;
    if (!cache.has(k)) {
      const ref = `mdm-openapi#/paths/${r.tpl.replace(/~/g, '~0').replace(/\//g, '~1')}/${method.toLowerCase()}/responses/${status}/content/application~1json/schema`;
      cache.set(k, ajv.compile({ $ref: ref }));
    }
    const v = cache.get(k);
    return v(body) ? null : `${k}: ${ajv.errorsText(v.errors)}`;
  };
}

// Checks every JSON reply the page receives from /v1/ against the OpenAPI document; the
// returned array collects what did not match.
export async function watchReplies(page) {
  const validate = await contract();
  const problems = [];
  page.on('response', async (res) => {
    const url = res.url();
    if (!url.includes('/v1/') || url.includes('/v1/openapi.json')) return;
    const status = res.status();
    if (status !== 200 && status !== 207) return;
    try {
      const body = await res.json();
      const p = validate(res.request().method(), url, status, body);
      if (p) problems.push(p);
    } catch { /* not JSON, or the page moved on */ }
  });
  return problems;
}

export function finish() {
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}
