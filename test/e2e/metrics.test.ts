/**
 * The real `bin/proxima-server` with a real `bin/proxima-client`: its admin listener answers
 * /healthz and /readyz, and /metrics in Prometheus text that parses line by line, with the node
 * online, its session opened, the ledger batches, and the process metrics.
 */
import t from 'tap';
import { startFakeOllama } from '../fixtures/fakes/ollama/fake-ollama.js';
import { parseSamples, sample, types } from '../fixtures/prometheus-text.js';
import { startProcessNetwork } from '../fixtures/stacks/process-network.js';

const TOKEN = 'scrape-token-0123456789';

t.test('proxima-server serves /healthz, /readyz and /metrics on its admin listener', async (t) => {
  const fake = await startFakeOllama();
  t.teardown(() => fake.destroy());
  const net = await startProcessNetwork(t, { alpha: fake }, [
    'rewards: { canaryShare: 0, newNodeCanaryShare: 0 }',
    `metrics: { token: ${TOKEN} }`,
  ]);
  const admin = net.adminBase!;
  t.match(admin, /^http:\/\/127\.0\.0\.1:\d+$/);
  const health = await fetch(`${admin}/healthz`);
  t.same([health.status, await health.json()], [200, { status: 'ok' }]);
  const ready = await fetch(`${admin}/readyz`);
  t.same(
    [ready.status, await ready.json()],
    [200, { status: 'ready', checks: { listeners: 'ok', draining: 'ok', store: 'ok', ledger: 'ok' } }],
  );
  t.equal((await fetch(`${admin}/metrics`)).status, 401, 'metrics.token is asked for');

  // A request through the API: the ledger writes its record.
  const chat = await net.post('/v1/chat/completions', { model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }] });
  t.equal(chat.status, 200);

  const res = await fetch(`${admin}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
  t.equal(res.status, 200);
  t.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  const text = await res.text();
  const samples = parseSamples(text);
  t.ok(samples.length > 50, `${samples.length} samples, every line parses`);
  t.equal(sample(text, 'proxima_nodes_registered'), 1);
  t.equal(sample(text, 'proxima_nodes_online'), 1);
  t.equal(sample(text, 'proxima_sessions_opened_total'), 1);
  t.ok(sample(text, 'proxima_ledger_batch_records_sum')! >= 1, 'the request record was written');
  t.ok(sample(text, 'proxima_public_connections_open')! >= 0);
  const families = types(text);
  for (const name of ['nodejs_eventloop_lag_seconds', 'nodejs_gc_duration_seconds', 'process_resident_memory_bytes'])
    t.ok(families.has(name), `process metric ${name}`);
  t.notMatch(text, /alpha|llama|sk-|prx_/, 'no node name, model or secret in any label');
});
