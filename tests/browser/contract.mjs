// Contract of the steward UI and the API: every route the UI calls (api/ui/api.js), on
// the pipeline's data, answers what its OpenAPI schema (GET /v1/openapi.json) says, and
// each such schema is specific (named fields, not just "an object"). A change of shape on
// either side fails here; steward.mjs and entity_actions.mjs also check every reply the
// browser receives.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { api, check, contract, newKey, test, finish } from './lib.mjs';

const validate = await contract();
const admin = newKey('admin');
const page = { screenshot: async () => {} }; // test() wants a page for its failure shots
const ok = async (method, p, body, k) => {
  const r = await api(method, p, body, k);
  check(r.status === 200 || r.status === 207, `${method} ${p}: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
  const problem = validate(method, p, r.status, r.body);
  check(!problem, problem);
  return r.body;
};

await test(page, 'ui_routes_have_schemas', async () => {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const src = fs.readFileSync(path.join(here, '../../api/ui/api.js'), 'utf8');
  const spec = await (await fetch(`${process.env.MDM_BASE}/v1/openapi.json`)).json();
  const calls = [...src.matchAll(/call\('(\w+)', [`'](\/v1\/(?:[^`'?$]|\$\{[^}]*\})*)/g)]
    .map((m) => [m[1], m[2].replace(/\$\{q\([^)]*\)\}/g, '')]);
  check(calls.length >= 15, `routes found in api.js (${calls.length})`);
  for (const [method, p] of calls) {
    const concrete = p.replace(/\$\{[^}]+\}/g, 'x');
    const tpl = Object.keys(spec.paths)
      .filter((t) => spec.paths[t][method.toLowerCase()] && new RegExp(`^${t.replace(/\{[^}]+\}/g, '[^/]+')}/?$`).test(concrete))
      .sort((x, y) => (x.match(/\{/g) || []).length - (y.match(/\{/g) || []).length)[0];
    check(tpl, `${method} ${p} is documented`);
    const schema = spec.paths[tpl][method.toLowerCase()].responses['200'].content['application/json'].schema;
    check(schema.$ref || (schema.properties && Object.keys(schema.properties).length), `${method} ${tpl}: a specific schema`);
  }
});

await test(page, 'review_replies', async () => {
  const list = await ok('GET', '/v1/review?limit=5');
  await ok('GET', '/v1/review?status=decided,superseded&source=crm&min_age_days=0&max_age_days=30&assignee=me');
  const it = list.items[0];
  const full = await ok('GET', `/v1/review/${it.id}`);
  check(full.explanation.comparisons.length > 0, 'comparisons');
  const claimed = await ok('POST', `/v1/review/${it.id}/claim`, { version: full.version });
  const released = await ok('POST', `/v1/review/${it.id}/claim`, { version: claimed.version, assignee: null });
  const decided = await ok('POST', `/v1/review/${it.id}/decision`, { version: released.version, decision: 'no_match' });
  await ok('POST', `/v1/review/${it.id}/reopen`, { version: decided.version, reason: 'contract' });
  const two = list.items.slice(1, 3);
  await ok('POST', '/v1/review/decisions', { decisions: two.map((x) => ({ id: x.id, version: x.version, decision: 'defer' })) });
});

await test(page, 'entity_replies', async () => {
  const list = await ok('GET', '/v1/review?limit=3');
  const a = list.items[0].entity_id;
  const e = await ok('GET', `/v1/entities/${a}?records=true`);
  await ok('GET', `/v1/entities/${a}`);
  await ok('GET', `/v1/entities/${a}/history`);
  await ok('GET', `/v1/entities/${a}/consent`);
  const name = [e.golden.first_name, e.golden.last_name].filter(Boolean).join(' ');
  const found = await ok('GET', `/v1/entities?q=${encodeURIComponent(name)}&limit=1000`);
  check(found.items.some((x) => x.id === a), 'search finds it');
  const pin = await ok('PUT', `/v1/entities/${a}/pins/segment`, { value: 'vip', version: e.version });
  const unpin = await ok('DELETE', `/v1/entities/${a}/pins/segment?version=${pin.version}`);
  const other = found.items.find((x) => x.id !== a) || (await ok('GET', '/v1/review?limit=3')).items[1];
  const b = other.id || other.entity_id;
  const after = await ok('GET', `/v1/entities/${a}/merge-preview?other=${b}`);
  const merged = await ok('POST', `/v1/entities/${a}/merge`, { other: b, version: unpin.version });
  check(JSON.stringify((await ok('GET', `/v1/entities/${merged.survivor}`)).golden) === JSON.stringify(after.golden)
    || Object.keys(after.golden).length > 0, 'the preview is a golden record');
  const un = await ok('POST', `/v1/entities/${merged.survivor}/unmerge`, { snapshot_id: merged.snapshot_id });
  const s = await ok('GET', `/v1/entities/${un.survivor}?records=true`);
  if (s.records.length > 1) {
    const sp = await ok('POST', `/v1/entities/${s.id}/split`, { records: [s.records[0].record_id], version: s.version });
    await ok('POST', `/v1/entities/${s.id}/unsplit`, { split_id: sp.split_id, version: sp.version });
  }
  await ok('GET', '/v1/audit?limit=5&verify=true', undefined, admin);
});

finish();
