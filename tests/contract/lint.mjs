// redocly lint of the served OpenAPI document, with Redocly's "recommended" rules (the
// openapi-core library the redocly CLI runs, installed with openapi-typescript). One
// rule is off, for a reason: no-path-trailing-slash (the steward UI's index is /ui/, as
// browsers resolve its relative links against it). Prints each problem; exits 1 on any.
//
//   node lint.mjs OPENAPI.json
import { lintFromString, createConfig } from '@redocly/openapi-core';
import { readFileSync } from 'node:fs';

const source = readFileSync(process.argv[2], 'utf8');
const config = await createConfig({
  extends: ['recommended'],
  rules: { 'no-path-trailing-slash': 'off' },
});
const problems = await lintFromString({ source, absoluteRef: 'openapi.json', config });
for (const p of problems) {
  console.log(`${p.severity} ${p.ruleId}: ${p.message} at ${p.location?.[0]?.pointer ?? ''}`);
}
console.log(`redocly lint: ${problems.length} problems`);
process.exit(problems.length ? 1 : 0);
