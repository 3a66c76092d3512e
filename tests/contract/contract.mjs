// API contract test: every route of a running `mdm serve` is called on data the real
// pipeline made (tests/e2e/openapi_contract.sh: mdm synth -> mdm load -> mdm resolve), and
// every reply is checked against /v1/openapi.json with ajv: its status must be declared,
// its Content-Type one the route declares, and a JSON body must match the schema. Every
// request body sent is checked against the route's request schema too, so the document
// describes what the server accepts. Also checked: no schema is a bare {"type": "object"}
// (a typed client could not read it), and every operation of the document was called with
// a success or redirect reply at least once (a new route must come with its contract call
// here).
//
//   node contract.mjs BASE_URL ADMIN_KEY SOURCE_A SOURCE_B OUT_SPEC
// Prints "ok NAME" / "FAIL NAME: why" lines and "N passed, N failed" last; writes the
// document to OUT_SPEC for the typed-client step.
import Ajv2020 from 'ajv/dist/2020.js';
import { writeFileSync } from 'node:fs';

const [base, key, srcA, srcB, outSpec] = process.argv.slice(2);
let passed = 0;
let failed = 0;
const ok = (name) => { passed++; console.log(`ok   ${name}`); };
const fail = (name, why) => { failed++; console.log(`FAIL ${name}: ${why}`); };
const check = (name, problem) => (problem ? fail(name, problem) : ok(name));

const spec = await (await fetch(`${base}/v1/openapi.json`)).json();
writeFileSync(outSpec, JSON.stringify(spec, null, 1));
const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
ajv.addSchema({ ...spec, $id: 'mdm' });

// ---- the document itself -------------------------------------------------------------
// A schema is loose when it says "object" and nothing about its members.
function looseSchemas(node, path, out) {
  if (Array.isArray(node)) { node.forEach((x, i) => looseSchemas(x, `${path}/${i}`, out)); return; }
  if (!node || typeof node !== 'object') return;
  const types = [].concat(node.type || []);
  if (types.includes('object') && !node.properties && node.additionalProperties === undefined &&
      !node.anyOf && !node.oneOf && !node.allOf && !node.$ref && !node.patternProperties) {
    out.push(path);
  }
  for (const [k, v] of Object.entries(node)) {
    if (k === 'example' || k === 'examples') continue;
    looseSchemas(v, `${path}/${k}`, out);
  }
}
const loose = [];
looseSchemas(spec.paths, '#/paths', loose);
looseSchemas(spec.components, '#/components', loose);
check('no schema is a bare object', loose.length ? loose.slice(0, 12).join(', ') : null);

const ops = [];
for (const [tpl, item] of Object.entries(spec.paths)) {
  for (const [m, op] of Object.entries(item)) {
    if (!['get', 'post', 'put', 'delete', 'patch'].includes(m)) continue;
    const re = new RegExp(`^${tpl.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\\{[^}]+\\\}|\{[^}]+\}/g, '[^/]+')}$`);
    ops.push({ tpl, method: m.toUpperCase(), op, re, hit: false });
  }
}
const missingBody = ops.filter((o) => o.op.requestBody &&
  !Object.values(o.op.requestBody.content || {}).every((c) => c.schema));
check('every request body has a schema', missingBody.length ? missingBody.map((o) => `${o.method} ${o.tpl}`).join(', ') : null);

// ---- calling the routes ----------------------------------------------------------------
const esc = (s) => s.replace(/~/g, '~0').replace(/\//g, '~1');
const validators = new Map();
function validator(ref) {
  if (!validators.has(ref)) validators.set(ref, ajv.compile({ $ref: ref }));
  return validators.get(ref);
}
function routeOf(method, pathname) {
  return ops.filter((o) => o.method === method && o.re.test(pathname))
    .sort((a, b) => (a.tpl.match(/\{/g) || []).length - (b.tpl.match(/\{/g) || []).length)[0];
}
// Resolves a response object that is a $ref (#/components/responses/E404).
function response(r) {
  if (r && r.$ref) return r.$ref.split('/').slice(1).reduce((n, k) => n[k], spec);
  return r;
}

// One timestamp form in every reply (RFC 3339, UTC, 'Z', microseconds): a member named
// *_at, at or since that holds a string must have it.
const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
function badTimestamps(node, path = '') {
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) { const p = badTimestamps(node[i], `${path}/${i}`); if (p) return p; }
    return null;
  }
  if (!node || typeof node !== 'object') return null;
  for (const [k, v] of Object.entries(node)) {
    if (typeof v === 'string' && /(^|_)(at|since)$/.test(k) && !RFC3339_UTC.test(v)) {
      return `timestamp ${path}/${k} is ${JSON.stringify(v)}, not RFC 3339 UTC with microseconds`;
    }
    const p = badTimestamps(v, `${path}/${k}`);
    if (p) return p;
  }
  return null;
}

// call(method, path, {body, ndjson, headers}) -> {status, body, text, headers}; checks the
// request body against the route's schema and the reply against the document.
async function call(method, path, opts = {}) {
  const url = new URL(path, base);
  const name = `${method} ${url.pathname}${url.search}`.slice(0, 110);
  const route = routeOf(method, url.pathname);
  if (!route) { fail(name, 'no such route in the document'); return { status: 0 }; }
  const headers = { Authorization: `Bearer ${key}`, ...(opts.headers || {}) };
  let body;
  if (opts.ndjson !== undefined) {
    headers['Content-Type'] = 'application/x-ndjson';
    body = opts.ndjson;
  } else if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.body);
    const rb = route.op.requestBody && route.op.requestBody.content && route.op.requestBody.content['application/json'];
    if (!rb) fail(`${name} request`, 'the route declares no JSON request body');
    else {
      const v = validator(`mdm#/paths/${esc(route.tpl)}/${route.method.toLowerCase()}/requestBody/content/application~1json/schema`);
      // a body sent to be refused must be refused by the document too
      if (opts.invalid && v(opts.body)) fail(`${name} request`, 'the document accepts a body the server refuses');
      if (!opts.invalid && !v(opts.body)) fail(`${name} request`, `the body the test sends does not match the document: ${ajv.errorsText(v.errors)}`);
    }
  }
  const res = await fetch(url, { method, headers, body, redirect: 'manual' });
  const text = await res.text();
  const ct = (res.headers.get('content-type') || '').split(';')[0].trim();
  const declared = response(route.op.responses[String(res.status)]);
  let problem = null;
  let json;
  if (!declared) problem = `status ${res.status} is not declared (${text.slice(0, 160)})`;
  else if (text.length && !(declared.content && declared.content[ct])) {
    problem = `Content-Type ${ct} is not declared for ${res.status}`;
  } else if ((ct === 'application/json' || ct.endsWith('+json')) && text.length) {
    try { json = JSON.parse(text); } catch (e) { problem = `not JSON: ${e.message}`; }
    if (!problem) {
      const ptr = route.op.responses[String(res.status)].$ref
        ? `mdm${route.op.responses[String(res.status)].$ref}/content/${esc(ct)}/schema`
        : `mdm#/paths/${esc(route.tpl)}/${route.method.toLowerCase()}/responses/${res.status}/content/${esc(ct)}/schema`;
      const v = validator(ptr);
      if (!v(json)) problem = `reply ${res.status} does not match: ${ajv.errorsText(v.errors).slice(0, 400)}`;
    }
  }
  if (!problem && json !== undefined) problem = badTimestamps(json);
  if (opts.expect && res.status !== opts.expect) problem = `status ${res.status}, want ${opts.expect}: ${text.slice(0, 200)}`;
  check(name, problem);
  if (res.status >= 200 && res.status < 400) route.hit = true; // /ui answers with a redirect
  return { status: res.status, body: json, text, headers: res.headers };
}

// ---- the calls -------------------------------------------------------------------------
await call('GET', '/healthz', { expect: 200 });
await call('GET', '/readyz', { expect: 200 });
await call('GET', '/metrics', { expect: 200 });
await call('GET', '/v1/openapi.json', { expect: 200 });
await call('GET', '/ui/', { expect: 200 });
await call('GET', '/ui', {});
await call('GET', '/ui/app.js', { expect: 200 });

// records: a canonical record, again unchanged, a batch, reads
const rec = {
  source_key: 'contract-1', first_name: 'Gwendolyn', last_name: 'Abernathy-Quill', birth_date: '1979-03-14',
  gender: 'F', emails: ['gwen.aq@example.org', { value: 'g.abernathy@example.net', type: 'work' }],
  phones: ['+44 20 7946 0958', '555-01'], addresses: [{ line1: '12 Larkspur Row', city: 'Bristol', postal_code: 'BS1 4DJ', country: 'GB' }],
  attributes: { occupation: 'pilot' },
};
const created = await call('POST', `/v1/sources/${srcA}/records`, { body: rec, expect: 201 });
await call('POST', `/v1/sources/${srcA}/records`, { body: rec, expect: 200 });
const twin = { ...rec, source_key: 'contract-2', emails: ['gwen.aq@example.org'] };
const second = await call('POST', `/v1/sources/${srcB}/records`, { body: twin });
await call('POST', `/v1/sources/${srcA}/records`, { body: { source_key: 'contract-bad', birth_date: 'yesterday', phones: 7 }, expect: 422 });
await call('POST', `/v1/sources/${srcA}/records:batch`, {
  ndjson: `${JSON.stringify({ ...rec, source_key: 'contract-3', first_name: 'Gwen' })}\n{"source_key": "contract-4", "first_name": "Ivo", "last_name": "Stanek"}\n`,
  expect: 200,
});
await call('GET', `/v1/sources/${srcA}/records/contract-1`, { expect: 200 });
await call('GET', `/v1/sources/${srcA}/records/no-such-key`, { expect: 404 });
const entityId = created.body && created.body.entity_id;
await call('GET', `/v1/entities/${entityId}`, { expect: 200 });
await call('GET', '/v1/entities/999999999', { expect: 404 });
await call('GET', `/v1/entities/${entityId}/history`, { expect: 200 });
await call('GET', '/v1/entities?name=Abernathy-Quill', { expect: 200 });
await call('GET', '/v1/entities?q=Gwendolyn%20Abernathy', { expect: 200 });
await call('GET', '/v1/entities?email=gwen.aq@example.org', { expect: 200 });
await call('POST', '/v1/match', { body: { first_name: 'Gwen', last_name: 'Abernathy Quill', birth_date: '1979-03-14' }, expect: 200 });
await call('POST', '/v1/match', { body: { first_name: 'Gwen', shoe_size: 9 }, expect: 422 });
await call('GET', '/v1/quality', { expect: 200 });
const hh = await call('GET', `/v1/entities/${entityId}/household`, {});
await call('GET', '/v1/households?line1=12%20Larkspur%20Row&postal_code=BS1%204DJ', { expect: 200 });
const hid = hh.body && hh.body.id;
if (hid) await call('GET', `/v1/households/${hid}`, { expect: 200 });
await call('GET', `/v1/entities/${entityId}/related`, { expect: 200 });
await call('GET', '/v1/changes?limit=5', { expect: 200 });
await call('GET', `/v1/entities/${entityId}/propagation`, { expect: 200 });

// consent
await call('POST', '/v1/consent-events', {
  body: { source: srcA, source_key: 'contract-1', consents: [{ purpose: 'marketing', channel: 'email', status: 'granted', captured_at: '2026-01-02T03:04:05Z' }] },
});
await call('GET', `/v1/entities/${entityId}/consent`, { expect: 200 });
await call('GET', '/v1/consent/audit?format=ndjson', { expect: 200 });
await call('GET', '/v1/consent/audit?format=csv', { expect: 200 });

// stewardship: the queue of the resolved demo data, one item through claim, decide, reopen
const queue = await call('GET', '/v1/review?limit=20', { expect: 200 });
const items = (queue.body && queue.body.items) || [];
if (items.length < 3) fail('review queue has items', `only ${items.length}`);
else {
  const it = items[0];
  const full = await call('GET', `/v1/review/${it.id}`, { expect: 200 });
  const claimed = await call('POST', `/v1/review/${it.id}/claim`, { body: { version: full.body.version }, expect: 200 });
  const decided = await call('POST', `/v1/review/${it.id}/decision`, { body: { decision: 'no_match', version: claimed.body.version, reason: 'contract' }, expect: 200 });
  await call('POST', `/v1/review/${it.id}/reopen`, { body: { version: decided.body.version, reason: 'contract' }, expect: 200 });
  const b = items[1];
  await call('POST', '/v1/review/decisions', { body: { decisions: [{ id: b.id, version: b.version, decision: 'defer' }, { id: 999999999, version: 1, decision: 'defer' }] } });
}

// merge, preview, unmerge, split, pins, assertions, explain
const other = second.body && second.body.entity_id;
let target = other;
if (!target || target === entityId) {
  const r = await call('POST', `/v1/sources/${srcB}/records`, { body: { source_key: 'contract-5', first_name: 'Osric', last_name: 'Pemberton', birth_date: '1950-07-07' }, expect: 201 });
  target = r.body.entity_id;
}
await call('GET', `/v1/entities/${entityId}/merge-preview?other=${target}`, { expect: 200 });
const merged = await call('POST', `/v1/entities/${entityId}/merge`, { body: { other: target, reason: 'contract' }, expect: 200 });
await call('POST', `/v1/entities/${entityId}/merge`, { body: { other: 'x' }, expect: 422, invalid: true });
const survivor = merged.body && merged.body.survivor;
await call('POST', `/v1/entities/${survivor}/unmerge`, { body: { reason: 'contract' }, expect: 200 });
const pinned = await call('PUT', `/v1/entities/${entityId}/pins/first_name`, { body: { value: 'Gwendolyn', reason: 'contract' }, expect: 200 });
await call('DELETE', `/v1/entities/${entityId}/pins/first_name?version=${pinned.body && pinned.body.version}`, { expect: 200 });
const batchRec = await call('GET', `/v1/sources/${srcA}/records/contract-3`, { expect: 200 });
const recA = await call('GET', `/v1/sources/${srcA}/records/contract-1`, { expect: 200 });
const ent = await call('GET', `/v1/entities/${recA.body.entity_id}`, { expect: 200 });
if (batchRec.body && batchRec.body.entity_id === recA.body.entity_id) {
  const sp = await call('POST', `/v1/entities/${recA.body.entity_id}/split`, { body: { records: [batchRec.body.id], reason: 'contract' }, expect: 200 });
  await call('POST', `/v1/entities/${recA.body.entity_id}/unsplit`, { body: { split_id: sp.body && sp.body.split_id, reason: 'contract' }, expect: 200 });
  await call('POST', `/v1/entities/${recA.body.entity_id}/split`, { body: { records: [batchRec.body.id], reason: 'contract' }, expect: 200 });
} else {
  fail('split', 'contract-3 did not join contract-1, nothing to split');
}
const as = await call('POST', '/v1/assertions', { body: { kind: 'never_link', record_a: recA.body.id, record_b: batchRec.body.id, reason: 'contract' }, expect: 200 });
await call('GET', `/v1/assertions?record_id=${recA.body.id}`, { expect: 200 });
await call('DELETE', `/v1/assertions/${as.body && as.body.id}?reason=contract`, { expect: 200 });
await call('GET', `/v1/explain?a=${srcA}:contract-1&b=${srcA}:contract-3`, { expect: 200 });
await call('GET', '/v1/audit?limit=5&verify=true', { expect: 200 });
await call('GET', '/v1/audit?from=garbage', { expect: 400 });
await call('GET', '/v1/rejects', { expect: 200 });

// relationships
const rel = await call('POST', '/v1/relationships', { body: { entity_a: recA.body.entity_id, entity_b: target, reason: 'siblings' }, expect: 201 });
if (rel.status === 201) await call('DELETE', `/v1/relationships/${recA.body.entity_id}/${target}`, { expect: 200 });

// households: a steward moves a golden record into one, then splits it off again
const home = await call('GET', `/v1/entities/${recA.body.entity_id}/household`, { expect: 200 });
const homeId = home.body && home.body.id;
const moved = await call('POST', `/v1/households/${homeId}/members`, { body: { entity_id: target, reason: 'contract: lives here', version: home.body && home.body.version }, expect: 200 });
await call('POST', `/v1/households/${homeId}/members`, { body: { entity_id: target, reason: 'contract' }, expect: 409 });
await call('POST', '/v1/households/999999999/members', { body: { entity_id: target, reason: 'contract' }, expect: 404 });
await call('POST', `/v1/households/${homeId}/split`, { body: { members: [999999999], reason: 'contract' }, expect: 422 });
await call('POST', `/v1/households/${homeId}/split`, { body: { members: [target], reason: 'contract: moved out', version: moved.body && moved.body.household.version }, expect: 200 });

// publishing
const sub = await call('POST', '/v1/subscriptions', { body: { source: srcA, url: 'https://crm.example.com/mdm-hook', secret: 'contract-secret-0123456789' }, expect: 201 });
const subId = sub.body && sub.body.id;
await call('GET', '/v1/subscriptions', { expect: 200 });
await call('GET', `/v1/subscriptions/${subId}`, { expect: 200 });
await call('PUT', `/v1/subscriptions/${subId}`, { body: { max_attempts: 3, active: true }, expect: 200 });
await call('GET', '/v1/deliveries?limit=5', { expect: 200 });
await call('POST', '/v1/deliveries/replay', { body: { dead: true }, expect: 200 });
await call('DELETE', `/v1/subscriptions/${subId}`, { expect: 204 });

// subjects, then retire a record
await call('GET', `/v1/subjects/${ent.body.id}/export`, { expect: 200 });
await call('POST', `/v1/subjects/${ent.body.id}/erase`, { body: { reason: 'contract: subject request' }, expect: 200 });
const erased = await call('GET', `/v1/entities/${ent.body.id}`, { expect: 200 });
check('an erased golden record says so', erased.body && erased.body.status === 'erased' ? null : JSON.stringify(erased.body));
await call('GET', `/v1/subjects/${ent.body.id}/export`, { expect: 200 });
await call('DELETE', `/v1/sources/${srcA}/records/contract-4`, { expect: 200 });

const missed = ops.filter((o) => !o.hit);
check('every operation was called with a success or redirect reply', missed.length ? missed.map((o) => `${o.method} ${o.tpl}`).join(', ') : null);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
