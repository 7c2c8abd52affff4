import { once } from 'node:events';
import { Registry } from 'prom-client';
import t from 'tap';
import { createLogger } from '../../../src/log.js';
import type { RequestRecord } from '../../../src/server/ledger/ledger-record.js';
import { metricLabels, metricValue } from '../../fixtures/metric-values.js';
import { startApiCluster, TEST_KEY } from '../../fixtures/stacks/api-cluster.js';
import { postJson, rawRequest } from '../../fixtures/wire/raw-http.js';

const HI = [{ role: 'user' as const, content: 'hi' }];

t.test('API requests: counted by route, model and outcome; tokens as the ledger has them; one access line each', async (t) => {
  const registry = new Registry();
  const lines: string[] = [];
  const logger = createLogger({ level: 'info', stream: { write: (line: string) => lines.push(line) > 0 } });
  const cluster = await startApiCluster(t, {
    nodes: [{ name: 'alpha', maxConcurrent: 1 }],
    routing: { maxQueued: 1, maxQueueWaitMs: 10_000 },
    server: { logger, metricsRegistry: registry },
  });
  const openai = cluster.openai();
  const records: RequestRecord[] = [];
  for (let i = 0; i < 3; i++) {
    await openai.chat.completions.create({ model: 'llama3.2', messages: HI });
    records.push(await cluster.nextUsage());
  }
  const stream = await openai.chat.completions.create({ model: 'llama3.2', messages: HI, stream: true });
  for await (const _ of stream);
  records.push(await cluster.nextUsage());
  const model = records[0]!.model;
  t.ok(records.every((r) => r.model === model && r.outcome === 'ok'));

  // A user's made-up model name is no label: it counts as `other`.
  const evil = '<img src=x onerror=alert(1)>';
  const unknown = await postJson(
    `${cluster.baseUrl}/v1/chat/completions`,
    { model: evil, messages: HI },
    { authorization: `Bearer ${TEST_KEY}` },
  );
  t.equal(unknown.status, 400, 'not a model name');
  const absent = await postJson(
    `${cluster.baseUrl}/v1/chat/completions`,
    { model: 'made-up-7f3a', messages: HI },
    { authorization: `Bearer ${TEST_KEY}` },
  );
  t.equal(absent.status, 404, 'no node shares it');
  const listing = await rawRequest(`${cluster.baseUrl}/v1/models`, { headers: { authorization: `Bearer ${TEST_KEY}` }, agent: false });
  t.equal(listing.status, 200);

  // One slow answer holds alpha's only slot: the next request waits in the queue, the one after it finds the queue full (503).
  cluster.fakes.alpha!.setFaults({ firstTokenDelayMs: 400 }, 'llama3.2');
  const slow = openai.chat.completions.create({ model: 'llama3.2', messages: HI });
  await cluster.fakes.alpha!.nextRequest();
  const queued = once(cluster.server.models.router, 'queued');
  const waiting = openai.chat.completions.create({ model: 'llama3.2', messages: HI });
  await queued;
  t.equal(await metricValue(registry, 'proxima_router_queue_depth'), 1, 'the queue depth, read at scrape');
  const busy = await postJson(
    `${cluster.baseUrl}/v1/chat/completions`,
    { model: 'llama3.2', messages: HI },
    { authorization: `Bearer ${TEST_KEY}` },
  );
  t.equal(busy.status, 503);
  t.equal(busy.headers['proxima-error'], 'PRX_ERR_NODES_BUSY');
  await slow;
  records.push(await cluster.nextUsage());
  await waiting;
  records.push(await cluster.nextUsage());

  const chat = '/v1/chat/completions';
  t.equal(await metricValue(registry, 'proxima_api_requests_total', { route: chat, model, outcome: 'ok' }), 6);
  t.equal(
    await metricValue(registry, 'proxima_api_requests_total', { route: chat, model, outcome: 'busy' }),
    1,
    'a busy 503 names the model',
  );
  t.equal(await metricValue(registry, 'proxima_api_requests_total', { route: chat, model: 'other', outcome: 'refused' }), 2);
  t.equal(await metricValue(registry, 'proxima_api_requests_total', { route: '/v1/models', model: 'other', outcome: 'ok' }), 1);
  t.equal(await metricValue(registry, 'proxima_api_busy_total'), 1);
  t.equal(await metricValue(registry, 'proxima_router_queue_wait_seconds_count'), 1, 'one request waited');
  t.equal(await metricValue(registry, 'proxima_router_queue_depth'), 0);
  const labels = await metricLabels(registry, 'proxima_api_requests_total');
  t.notOk(
    labels.some((l) => String(l.model).includes('img') || String(l.model).includes('made-up')),
    'the unknown models are not labels',
  );

  const tokensIn = records.reduce((n, r) => n + (r.promptTokensReported ?? 0), 0);
  const tokensOut = records.reduce((n, r) => n + (r.completionTokensReported ?? r.completionTokensObserved), 0);
  t.ok(tokensIn > 0 && tokensOut > 0);
  t.equal(
    await metricValue(registry, 'proxima_api_tokens_total', { model, direction: 'in' }),
    tokensIn,
    'prompt tokens as the ledger has them',
  );
  t.equal(
    await metricValue(registry, 'proxima_api_tokens_total', { model, direction: 'out' }),
    tokensOut,
    'completion tokens as the ledger has them',
  );
  t.equal(await metricValue(registry, 'proxima_api_duration_seconds_count', { model }), 7);
  t.equal(await metricValue(registry, 'proxima_api_ttfb_seconds_count', { model }), 6, 'the busy one had no first byte');

  await new Promise((resolve) => setImmediate(resolve)); // access lines go out once per turn of the loop
  const access = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.component === 'access' && l.kind === 'api');
  t.equal(access.length, 10, 'one access line per API request');
  const byId = new Map(access.map((l) => [l.requestId, l]));
  for (const r of records) {
    t.match(byId.get(r.id), {
      route: chat,
      model,
      node: 'alpha',
      status: 200,
      outcome: 'ok',
      tokensIn: r.promptTokensReported ?? 0,
      tokensOut: r.completionTokensReported ?? r.completionTokensObserved,
      bytesOut: r.bytesOut,
    });
  }
  t.ok(access.some((l) => l.status === 503 && l.outcome === 'busy'));
  t.ok(access.some((l) => l.status === 404 && l.model === 'other' && l.outcome === 'refused'));
  t.ok(access.some((l) => l.status === 400 && l.model === 'other'));
  const all = lines.join('');
  t.notOk(all.includes(TEST_KEY), 'no API key in the log');
  t.notOk(
    access.some((l) => JSON.stringify(l).includes('onerror') || JSON.stringify(l).includes('made-up')),
    "no user's model name in an access line",
  );
  // The API's requests come through the public listener too, but are not tunnel requests.
  t.equal(await metricValue(registry, 'proxima_tunnel_requests_total', { status_class: '2xx' }), 0);
});
