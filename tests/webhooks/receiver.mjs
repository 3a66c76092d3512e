// A webhook receiver written as an integrator would: it verifies every delivery with the
// Standard Webhooks reference library (npm standardwebhooks), not with mdm's code.
// Usage: node receiver.mjs LOG SECRET...  Prints "ready PORT", then appends one JSON
// line per request to LOG: which of the secrets verify it, the headers, the event type.
// Answers 200 when at least one secret verifies, 401 otherwise.
import http from 'node:http';
import fs from 'node:fs';
import { Webhook } from 'standardwebhooks';

const [log, ...secrets] = process.argv.slice(2);
// an mdm secret is used as its bytes unless it is a whsec_ (base64) secret
const hooks = secrets.map((s) => new Webhook(s, s.startsWith('whsec_') ? undefined : { format: 'raw' }));

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    const verified = hooks.map((w) => {
      try { w.verify(body, req.headers); return true; } catch { return false; }
    });
    let type = null;
    try { type = JSON.parse(body).type; } catch { /* not JSON: logged as null */ }
    fs.appendFileSync(log, `${JSON.stringify({
      verified, type, id: req.headers['webhook-id'] || null,
      signatures: (req.headers['webhook-signature'] || '').split(' ').filter(Boolean).length,
    })}\n`);
    res.writeHead(verified.some(Boolean) ? 200 : 401);
    res.end();
  });
});
server.listen(0, '127.0.0.1', () => console.log(`ready ${server.address().port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
