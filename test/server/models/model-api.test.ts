import { once } from 'node:events';
import t, { type Test } from 'tap';
import type { ControlConnection } from '../../../src/client/control-connection.js';
import { Forwarder } from '../../../src/client/forwarder.js';
import { openNodeStream } from '../../../src/server/control/node-stream.js';
import { startPublicListener } from '../../../src/server/public/public-listener.js';
import type { ProximaServer } from '../../../src/server/server.js';
import { type FakeOllama, startFakeOllama } from '../../fixtures/fakes/ollama/fake-ollama.js';
import { connectNode, register, startServer, tempDir, testServerConfig } from '../../fixtures/stacks/control-plane.js';
import { within } from '../../fixtures/store-helpers.js';
import { openRequest, postJson, readAll } from '../../fixtures/wire/raw-http.js';

/** A super node whose sessions would wait a minute for streams to end, and one node in this process in front of a fake. */
async function setup(t: Test): Promise<{ server: ProximaServer; node: ControlConnection; fake: FakeOllama; url: string }> {
  const dataDir = tempDir(t);
  const config = testServerConfig(dataDir, {
    api: { open: true },
    http: { listen: '127.0.0.1:0', drainTimeoutMs: 60_000 },
    routing: { maxQueued: 4 },
  });
  const server = await startServer(t, { dataDir, config, openStream: openNodeStream, publicListener: startPublicListener });
  const fake = await startFakeOllama({ models: [{ name: 'llama3.2', answerTokens: 3 }] });
  t.teardown(() => fake.destroy());
  const forwarder = new Forwarder({ services: [{ name: 'ollama', local: { host: '127.0.0.1', port: fake.port } }] });
  t.teardown(() => forwarder.destroy());
  const models = fake.models.map((m) => ({ name: m.name, digest: m.digest }));
  const token = await register(server, 'alpha');
  const online = new Promise<void>((resolve) => server.models.catalog.once('change', () => resolve()));
  const node = await connectNode(t, server, 'alpha', {
    token,
    drainTimeoutMs: 60_000,
    onStream: (stream) => forwarder.handle(stream),
    services: [{ name: 'ollama', kind: 'ollama', hostHeader: `localhost:${fake.port}`, maxConcurrent: 1, models }],
  });
  await online;
  return { server, node, fake, url: `http://127.0.0.1:${server.httpAddress()!.port}` };
}

const CHAT = { model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }] };

t.test('a node that leaves is not held up by the idle streams the API kept for it', async (t) => {
  const { server, node, url } = await setup(t);
  t.equal((await postJson(`${url}/v1/chat/completions`, CHAT)).status, 200);
  t.equal(server.models.pools.size, 1, 'a pool with an idle stream, kept for the next request');
  const poolsWhenDraining = new Promise((resolve) => server.nodes.once('draining', () => resolve(server.models.pools.size)));
  await within(node.close(), 10_000, 'the node leaving');
  t.equal(await poolsWhenDraining, 0, 'its pool closed the moment it said it was leaving, idle streams with it');
});

t.test('the server closes promptly with idle streams to nodes; a request in flight finishes, waiting ones get 503', async (t) => {
  const { server, fake, url } = await setup(t);
  t.equal((await postJson(`${url}/api/generate`, { model: 'llama3.2', prompt: 'x', stream: false })).status, 200);
  fake.setFaults({ firstTokenDelayMs: 200, times: 1 });
  const inFlight = openRequest(`${url}/api/chat`, { method: 'POST', body: JSON.stringify(CHAT) });
  await fake.nextRequest((r) => r.path === '/api/chat');
  const waiting = once(server.models.router, 'queued');
  const queued = postJson(`${url}/api/chat`, CHAT);
  await waiting;
  const closing = within(server.close(), 5_000, 'the server closing');
  const waited = await queued;
  t.same([waited.status, waited.headers['proxima-error']], [503, 'PRX_ERR_SERVER_DRAINING']);
  const finished = await inFlight;
  const lines = (await readAll(finished.res)).toString().trimEnd().split('\n');
  t.match(JSON.parse(lines.at(-1)!), { done: true }, 'the request in flight got its whole answer');
  await closing;
  await server.close();
  await server.destroy();
});
