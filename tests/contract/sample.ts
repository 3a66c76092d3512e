// A small integrator program typed by the client openapi-typescript generates from
// /v1/openapi.json (tests/e2e/openapi_contract.sh compiles it with tsc --strict; no `any`
// casts). If a reply or request schema loses its members, this stops compiling.
import createClient from 'openapi-fetch';
import type { paths, components } from './build/mdm-api';

type Golden = components['schemas']['GoldenRecord'];

export async function sample(baseUrl: string, key: string): Promise<string[]> {
  const mdm = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${key}` } });
  const lines: string[] = [];

  const up = await mdm.POST('/v1/sources/{source}/records', {
    params: { path: { source: 'crm' } },
    body: { source_key: 'ts-1', first_name: 'Ada', last_name: 'Lovelace', emails: ['ada@example.org'] },
  });
  if (up.data) lines.push(`${up.data.decision} ${up.data.entity_id ?? ''}`);

  const found = await mdm.POST('/v1/match', { body: { first_name: 'Ada', last_name: 'Lovelace' } });
  for (const c of found.data?.candidates ?? []) lines.push(`${c.entity_id} ${c.probability}`);

  const id = up.data?.entity_id;
  if (id !== undefined) {
    const e = await mdm.GET('/v1/entities/{id}', { params: { path: { id: String(id) } } });
    const golden: Golden | undefined = e.data?.golden;
    lines.push(`${golden?.first_name ?? ''} ${golden?.last_name ?? ''} ${golden?.emails?.[0]?.value ?? ''}`);
    const consent = await mdm.GET('/v1/entities/{id}/consent', { params: { path: { id: String(id) } } });
    for (const c of consent.data?.consents ?? []) if (c.granted) lines.push(`${c.purpose}/${c.channel}`);
  }

  const queue = await mdm.GET('/v1/review', { params: { query: { limit: 5 } } });
  const item = queue.data?.items?.[0];
  if (item) {
    const d = await mdm.POST('/v1/review/{id}/decision', {
      params: { path: { id: String(item.id) } },
      body: { decision: 'defer', version: item.version, reason: 'typed client' },
    });
    lines.push(`${d.data?.status ?? d.error?.code}`);
  }
  return lines;
}
