/**
 * The super node's metrics after real events: node sessions over real sockets, probes and canaries
 * on a cluster of real proxima-client processes, ledger batches; /metrics over the admin listener
 * with and without metrics.token; metrics.enabled: false.
 */
import { once } from 'node:events';
import t, { type Test } from 'tap';
import { modelKey } from '../../../src/proto/llm/model-name.js';
import { startAdminListener } from '../../../src/server/admin/admin-listener.js';
import { CLOSE_REASONS, closeReasonOf } from '../../../src/server/admin/metrics.js';
import { AuthThrottle } from '../../../src/server/api-host/auth-throttle.js';
import type { ProximaServer } from '../../../src/server/server.js';
import { probe } from '../../fixtures/ledger-records.js';
import { parseSamples, sample, types } from '../../fixtures/prometheus-text.js';
import { startApiCluster } from '../../fixtures/stacks/api-cluster.js';
import { connectNode, online, register, startServer, tempDir, testServerConfig } from '../../fixtures/stacks/control-plane.js';
import { routingTarget } from '../../fixtures/stacks/routing-target.js';

const SCRAPE_TOKEN = 'scrape-token-0123456789';
const MODEL = { name: 'llama3.2:latest', digest: 'a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72', answerTokens: 12 };

async function scrape(server: ProximaServer): Promise<string> {
  return (await server.metrics!.exposition()).text;
}

async function adminServer(t: Test, extra: Record<string, unknown> = {}): Promise<{ server: ProximaServer; url: string }> {
  const dataDir = tempDir(t);
  const server = await startServer(t, {
    dataDir,
    config: testServerConfig(dataDir, { admin: { listen: '127.0.0.1:0' }, ...extra }),
    adminListener: startAdminListener,
    authThrottles: { metrics: new AuthThrottle({ freeFailures: 2, maxFailures: 3, decayMs: 60_000 }) },
  });
  return { server, url: `http://127.0.0.1:${server.adminAddress()!.port}/metrics` };
}

t.test('a node logs in: registered 1, online 1, one session opened; it closes: one closed, reason "closed"', async (t) => {
  const { server } = await adminServer(t);
  let text = await scrape(server);
  t.equal(sample(text, 'proxima_nodes_registered'), 0);
  t.equal(sample(text, 'proxima_nodes_online'), 0);
  for (const reason of CLOSE_REASONS) t.equal(sample(text, 'proxima_sessions_closed_total', { reason }), 0, `${reason}: 0 from the start`);

  const token = await register(server, 'alpha');
  const connection = await connectNode(t, server, 'alpha', { token });
  await online(server, 'alpha');
  text = await scrape(server);
  t.equal(sample(text, 'proxima_nodes_registered'), 1);
  t.equal(sample(text, 'proxima_nodes_online'), 1);
  t.equal(sample(text, 'proxima_sessions_opened_total'), 1);
  t.equal(sample(text, 'proxima_mux_streams_open'), 1, 'its control stream');

  const closed = once(server.nodes, 'closed');
  await connection.close();
  await closed;
  text = await scrape(server);
  t.equal(sample(text, 'proxima_nodes_online'), 0);
  t.equal(sample(text, 'proxima_nodes_registered'), 1, 'still registered');
  t.equal(sample(text, 'proxima_sessions_closed_total', { reason: 'closed' }), 1);
  t.equal(
    parseSamples(text)
      .filter((s) => s.name === 'proxima_sessions_closed_total')
      .reduce((n, s) => n + s.value, 0),
    1,
    'and no other reason',
  );
});

t.test('the close reason is bounded to a fixed list', async (t) => {
  t.equal(closeReasonOf({}), 'closed');
  t.equal(closeReasonOf({ closeReason: 'keepalive_timeout' }), 'keepalive_timeout');
  t.equal(closeReasonOf({ closeReason: '<script>' }), 'other');
});

t.test('ledger batches: records per write and write time; process metrics appended', async (t) => {
  const { server } = await adminServer(t);
  await Promise.all([server.ledger.append(probe()), server.ledger.append(probe()), server.ledger.append(probe())]);
  const text = await scrape(server);
  t.equal(sample(text, 'proxima_ledger_batch_records_count'), 1, 'one write');
  t.equal(sample(text, 'proxima_ledger_batch_records_sum'), 3, 'of three records');
  t.equal(sample(text, 'proxima_ledger_write_seconds_count'), 1);
  t.ok(sample(text, 'proxima_ledger_write_seconds_sum')! > 0);
  t.equal(sample(text, 'proxima_ledger_write_failures_total'), 0);
  const families = types(text);
  t.equal(families.get('proxima_ledger_batch_records'), 'histogram');
  t.equal(families.get('proxima_nodes_online'), 'gauge');
  t.equal(families.get('proxima_sessions_closed_total'), 'counter');
  for (const name of [
    'nodejs_eventloop_lag_seconds',
    'nodejs_gc_duration_seconds',
    'process_resident_memory_bytes',
    'nodejs_heap_size_used_bytes',
  ])
    t.ok(families.has(name), name);
  t.equal(parseSamples(text).length > 50, true, 'every line parses');
});

t.test('/metrics over the admin listener: open by default; with metrics.token, 401 without it, throttled, 200 with it', async (t) => {
  const open = await adminServer(t);
  const res = await fetch(open.url);
  t.equal(res.status, 200);
  t.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  t.match(await res.text(), /^proxima_nodes_online 0$/m);
  const head = await fetch(open.url, { method: 'HEAD' });
  t.equal(head.status, 200);
  t.equal(await head.text(), '');
  t.equal((await fetch(open.url, { method: 'DELETE' })).status, 405);

  const locked = await adminServer(t, { metrics: { token: SCRAPE_TOKEN } });
  const none = await fetch(locked.url);
  t.equal(none.status, 401);
  t.equal(none.headers.get('www-authenticate'), 'Bearer');
  t.match(await none.json(), { error: { code: 'PRX_ERR_UNAUTHORIZED' } });
  const wrong = (token: string) => fetch(locked.url, { headers: { authorization: `Bearer ${token}` } });
  t.equal((await wrong('scrape-token-0123456780')).status, 401);
  t.equal((await wrong(SCRAPE_TOKEN)).status, 200);
  t.equal((await wrong('x')).status, 401);
  t.equal((await wrong('y')).status, 401, 'three wrong: the limit');
  const refused = await wrong(SCRAPE_TOKEN);
  t.equal(refused.status, 429, 'past the limit, even the right token waits');
  t.ok(Number(refused.headers.get('retry-after')) >= 1);
  t.equal((await fetch(locked.url.replace('/metrics', '/healthz'))).status, 200, 'health stays open');
});

t.test('metrics.enabled: false: no server.metrics, /metrics is 404, the ledger has no observer', async (t) => {
  const { server, url } = await adminServer(t, { metrics: { enabled: false } });
  t.equal(server.metrics, undefined);
  const res = await fetch(url);
  t.equal(res.status, 404);
  t.match(await res.json(), { error: { code: 'PRX_ERR_HTTP_NOT_FOUND' } });
  await server.ledger.append(probe());
});

t.test('probes on real nodes count as they are made durable, passed and failed', async (t) => {
  const cluster = await startApiCluster(t, {
    nodes: [
      { name: 'alpha', models: [MODEL] },
      { name: 'hung', models: [MODEL] },
    ],
    rewards: { probeIntervalMs: '1s', probeTimeoutMs: '300ms' },
  });
  cluster.fakes.hung!.configure({ hung: true });
  const since = Date.now();
  const after = (node: string) => (p: { node: string; time: string }) => p.node === node && Date.parse(p.time) >= since;
  await Promise.all([cluster.probe(after('alpha')), cluster.probe(after('hung'))]);
  t.equal(sample(await scrape(cluster.server), 'proxima_nodes_online'), 2);
  await cluster.server.close(); // no more probes: the counts settle
  const text = await scrape(cluster.server);
  const passed = cluster.probes.filter((p) => p.ok).length;
  const failed = cluster.probes.filter((p) => !p.ok).length;
  t.ok(passed >= 1 && failed >= 1, `${passed} passed, ${failed} failed`);
  t.equal(sample(text, 'proxima_probes_total', { result: 'passed' }), passed);
  t.equal(sample(text, 'proxima_probes_total', { result: 'failed' }), failed);
  t.equal(sample(text, 'proxima_ledger_batch_records_sum'), cluster.probes.length, 'every probe record went through a batch');
});

t.test('canaries on real nodes count by verdict', async (t) => {
  const target = routingTarget();
  const cluster = await startApiCluster(t, {
    nodes: [
      { name: 'alpha', models: [MODEL] },
      { name: 'beta', models: [MODEL] },
    ],
    rewards: {
      canaryShare: 1,
      newNodeCanaryShare: 1,
      canaryMaxTokens: 6,
      maxTokensPerSecond: 1_000_000,
      maxTokensPerSecondAt1B: 10_000_000,
    },
    random: target.random,
  });
  target.attach(cluster.server, modelKey(MODEL.name)!);
  target.node = 'alpha';
  await cluster.openai().chat.completions.create({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }], stream: true });
  const outcome = await cluster.canary(() => true);
  t.equal(outcome.verdict?.passed, true);
  await cluster.server.close();
  const text = await scrape(cluster.server);
  const count = (r: string) =>
    cluster.canaries.filter((c) => (c.verdict === null ? 'inconclusive' : c.verdict.passed ? 'passed' : 'failed') === r).length;
  for (const result of ['passed', 'failed', 'inconclusive'])
    t.equal(sample(text, 'proxima_canaries_total', { result }), count(result), result);
  t.ok(sample(text, 'proxima_canaries_total', { result: 'passed' })! >= 1);
});
