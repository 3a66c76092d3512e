// The mdm HTTP API as the steward UI uses it. The API key lives in sessionStorage only
// (gone when the tab closes); every call sends it as a Bearer token. Errors are
// problem+json documents; they are thrown as ApiError with status, title and detail.

const KEY = 'mdm.steward.key';

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

export function apiKey() {
  return sessionStorage.getItem(KEY);
}

export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
}

export async function call(method, path, body) {
  const headers = { Accept: 'application/json' };
  const key = apiKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  const init = { method, headers };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { detail: text.slice(0, 200) };
    }
  }
  if (!res.ok) throw new ApiError(res.status, data || {});
  return data;
}

const q = (params) => {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') s.set(k, v);
  const t = s.toString();
  return t ? `?${t}` : '';
};

export const api = {
  queue: (params) => call('GET', `/v1/review${q(params)}`),
  item: (id) => call('GET', `/v1/review/${id}`),
  claim: (id, version) => call('POST', `/v1/review/${id}/claim`, { version }),
  release: (id, version) => call('POST', `/v1/review/${id}/claim`, { version, assignee: null }),
  reopen: (id, version, reason) => call('POST', `/v1/review/${id}/reopen`, { version, reason: reason || undefined }),
  bulk: (decisions) => call('POST', '/v1/review/decisions', { decisions }),
  decide: (id, version, decision, reason) =>
    call('POST', `/v1/review/${id}/decision`, { decision, version, reason: reason || undefined }),
  entity: (id) => call('GET', `/v1/entities/${id}?records=true`),
  history: (id) => call('GET', `/v1/entities/${id}/history`),
  consent: (id) => call('GET', `/v1/entities/${id}/consent`),
  household: (id) => call('GET', `/v1/entities/${id}/household`),
  related: (id) => call('GET', `/v1/entities/${id}/related`),
  relate: (id, other, reason) => call('POST', '/v1/relationships', { entity_a: id, entity_b: other, reason }),
  unrelate: (id, other) => call('DELETE', `/v1/relationships/${id}/${other}`),
  householdMove: (hid, entityId, version, reason) =>
    call('POST', `/v1/households/${hid}/members`, { entity_id: entityId, version, reason }),
  householdSplit: (hid, members, version, reason) =>
    call('POST', `/v1/households/${hid}/split`, { members, version, reason }),
  propagation: (id) => call('GET', `/v1/entities/${id}/propagation`),
  search: (params) => call('GET', `/v1/entities${q(params)}`),
  merge: (id, version, other, reason) =>
    call('POST', `/v1/entities/${id}/merge`, { other, version, reason: reason || undefined }),
  mergePreview: (id, other) => call('GET', `/v1/entities/${id}/merge-preview${q({ other })}`),
  split: (id, version, records, reason) =>
    call('POST', `/v1/entities/${id}/split`, { records, version, reason: reason || undefined }),
  unmerge: (id, snapshotId, reason) =>
    call('POST', `/v1/entities/${id}/unmerge`, { snapshot_id: snapshotId, reason: reason || undefined }),
  unsplit: (id, splitId, reason) =>
    call('POST', `/v1/entities/${id}/unsplit`, { split_id: splitId, reason: reason || undefined }),
  pin: (id, version, attr, value, reason) =>
    call('PUT', `/v1/entities/${id}/pins/${encodeURIComponent(attr)}`, { value, version, reason: reason || undefined }),
  unpin: (id, version, attr) =>
    call('DELETE', `/v1/entities/${id}/pins/${encodeURIComponent(attr)}${q({ version })}`),
  audit: (params) => call('GET', `/v1/audit${q(params)}`),
};
