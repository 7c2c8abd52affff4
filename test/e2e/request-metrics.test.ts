/**
 * The real `bin/proxima-server` and `bin/proxima-client`: requests through the API and through a
 * node's hostname show in /metrics on the admin listener, and each writes one access line to the
 * server's stderr, without the API key that came with it.
 */
import t from 'tap';
import { startFakeOllama } from '../fixtures/fakes/ollama/fake-ollama.js';
import { sample } from '../fixtures/prometheus-text.js';
import { startProcessNetwork } from '../fixtures/stacks/process-network.js';
import { postJson, rawRequest } from '../fixtures/wire/raw-http.js';

const KEY = 'sk-proxima-e2e-access-0123456789';

t.test('requests counted in /metrics and logged once each by the real programs', async (t) => {
  const fake = await startFakeOllama();
  t.teardown(() => fake.destroy());
  const net = await startProcessNetwork(t, { alpha: fake }, [
    'rewards: { canaryShare: 0, newNodeCanaryShare: 0 }',
    `api: { keys: [{ id: tester, key: ${KEY} }] }`,
  ]);
  const auth = { authorization: `Bearer ${KEY}` };
  const chats = 3;
  const ids: string[] = [];
  for (let i = 0; i < chats; i++) {
    const chat = await postJson(
      `${net.base}/v1/chat/completions`,
      { model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }] },
      auth,
    );
    t.equal(chat.status, 200);
    ids.push(chat.headers['x-request-id'] as string);
  }
  const unknownHost = await rawRequest(`${net.base}/`, { headers: { Host: 'nobody.proxima.test', ...auth }, agent: false });
  t.equal(unknownHost.status, 404, 'refused by the super node: a tunnel request');

  const text = await (await fetch(`${net.adminBase!}/metrics`)).text();
  t.equal(sample(text, 'proxima_api_requests_total', { route: '/v1/chat/completions', model: 'llama3.2:latest', outcome: 'ok' }), chats);
  t.ok(sample(text, 'proxima_api_tokens_total', { model: 'llama3.2:latest', direction: 'out' })! > 0);
  t.equal(sample(text, 'proxima_api_duration_seconds_count', { model: 'llama3.2:latest' }), chats);
  t.equal(sample(text, 'proxima_tunnel_requests_total', { status_class: '4xx' }), 1);
  t.equal(sample(text, 'proxima_tunnel_duration_seconds_count'), 1);
  t.equal(sample(text, 'proxima_router_queue_depth'), 0);

  // Access lines are written once per turn of the server's event loop: wait for the last one.
  await net.server.waitForLine((line) => line.includes('"component":"access"') && line.includes('"kind":"tunnel"'));
  const access = net.server.lines.filter((l) => l.includes('"component":"access"')).map((l) => JSON.parse(l) as Record<string, unknown>);
  t.equal(access.length, chats + 1, 'one access line per request');
  for (const id of ids)
    t.match(
      access.find((l) => l.requestId === id),
      { kind: 'api', route: '/v1/chat/completions', model: 'llama3.2:latest', node: 'alpha', status: 200, outcome: 'ok' },
    );
  t.match(access.at(-1), { kind: 'tunnel', host: 'nobody.proxima.test', status: 404 });
  t.notOk(
    net.server.lines.some((l) => l.includes(KEY)),
    'the API key is in no line of the server',
  );
});
