import { once } from 'node:events';
import net from 'node:net';
import t, { type Test } from 'tap';
import {
  type DiscoveredService,
  ModelDiscovery,
  type ModelDiscoveryOptions,
  type ServiceModels,
} from '../../../src/client/ollama/model-discovery.js';
import { createLogger, type LogFields } from '../../../src/log.js';
import { type FakeOllama, startFakeOllama } from '../../fixtures/fakes/ollama/fake-ollama.js';
import { within } from '../../fixtures/store-helpers.js';

/** A logger whose lines a test can read. */
function logLines() {
  const lines: LogFields[] = [];
  const logger = createLogger({ level: 'debug', stream: { write: (line: string) => lines.push(JSON.parse(line) as LogFields) > 0 } });
  return { logger, lines, messages: (msg: string) => lines.filter((l) => l.msg === msg) };
}

function service(port: number, extra: Partial<DiscoveredService> = {}): DiscoveredService {
  return { name: 'ollama', local: { host: '127.0.0.1', port }, hostHeader: `localhost:${port}`, share: '*', ...extra };
}

async function discover(t: Test, options: Partial<ModelDiscoveryOptions> & { services: DiscoveredService[] }): Promise<ModelDiscovery> {
  const discovery = await ModelDiscovery.start({ refreshIntervalMs: 3_600_000, ...options });
  t.teardown(() => discovery.destroy());
  return discovery;
}

async function fakeOllama(t: Test, options: Parameters<typeof startFakeOllama>[0] = {}): Promise<FakeOllama> {
  const fake = await startFakeOllama(options);
  t.teardown(() => fake.destroy());
  return fake;
}

const names = (models: ServiceModels, service = 'ollama'): string[] => (models.get(service) ?? []).map((m) => m.name);

t.test('the first read comes with start: the shared models with their digests, read with the Host Ollama wants', async (t) => {
  const fake = await fakeOllama(t);
  const discovery = await discover(t, { services: [service(fake.port, { share: ['llama3.2', 'all-minilm:latest', 'absent'] })] });
  t.same(names(discovery.models), ['all-minilm:latest', 'llama3.2:latest'], 'qwen2.5 is not shared; an absent model is not invented');
  const llama = fake.models.find((m) => m.name === 'llama3.2:latest')!;
  t.same(discovery.models.get('ollama')![1], {
    name: 'llama3.2:latest',
    digest: llama.digest,
    size: llama.sizeBytes,
    modifiedAt: llama.modifiedAt,
    details: {
      format: 'gguf',
      family: 'llama',
      families: ['llama'],
      parameter_size: '3.2B',
      quantization_level: 'Q4_K_M',
      parent_model: '',
    },
  });
  t.same(
    fake.requests.map((r) => [r.method, r.path, r.host]),
    [['GET', '/api/tags', `localhost:${fake.port}`]],
  );
});

t.test('a model added or removed is a change; a read that finds the same list is not', async (t) => {
  const fake = await fakeOllama(t, { models: [{ name: 'llama3.2' }] });
  const discovery = await discover(t, { services: [service(fake.port)] });
  const changes: string[][] = [];
  discovery.on('change', (models) => changes.push(names(models)));
  await discovery.refresh();
  t.same(changes, [], 'nothing changed');
  fake.addModel({ name: 'qwen2.5:0.5b' });
  await discovery.refresh();
  fake.addModel({ name: 'llama3.2', digest: 'f'.repeat(64) });
  await discovery.refresh();
  t.equal(discovery.models.get('ollama')![0]!.digest, 'f'.repeat(64), 'a new digest under the same name is a change too');
  fake.removeModel('llama3.2');
  await discovery.refresh();
  t.same(changes, [['llama3.2:latest', 'qwen2.5:0.5b'], ['llama3.2:latest', 'qwen2.5:0.5b'], ['qwen2.5:0.5b']]);
});

t.test('polling: a change is found and announced without being asked', async (t) => {
  const fake = await fakeOllama(t, { models: [{ name: 'llama3.2' }] });
  const discovery = await discover(t, { services: [service(fake.port)], refreshIntervalMs: 100 });
  fake.addModel({ name: 'qwen2.5:0.5b' });
  const [models] = (await within(once(discovery, 'change'), 5_000, 'a change')) as [ServiceModels];
  t.same(names(models), ['llama3.2:latest', 'qwen2.5:0.5b']);
});

t.test('an Ollama that goes down keeps its last models advertised, logged once; never read, it shares nothing', async (t) => {
  const first = await startFakeOllama({ models: [{ name: 'llama3.2' }] });
  t.teardown(() => first.destroy());
  const { port } = first;
  const log = logLines();
  const discovery = await discover(t, { services: [service(port)], logger: log.logger });
  const changes: string[][] = [];
  discovery.on('change', (models) => changes.push(names(models)));
  await first.destroy();
  await discovery.refresh();
  await discovery.refresh();
  await discovery.refresh();
  t.same(changes, [], 'its models stay advertised while it is down: down, not gone');
  t.same(names(discovery.models), ['llama3.2:latest']);
  const warnings = log.messages('cannot read the models of ollama: the last ones read stay advertised until it answers');
  t.equal(warnings.length, 1, 'one warning for three failed reads');
  t.match(warnings[0], { level: 'warn', service: 'ollama', err: { code: 'ECONNREFUSED' } });
  const back = await fakeOllama(t, { models: [{ name: 'llama3.2' }], port });
  await discovery.refresh();
  t.same(changes, [], 'the same list again: nothing to advertise');
  t.equal(log.messages('ollama answers again').length, 1);
  t.equal(back.requests.length, 1);
});

t.test('a wrong Host (403), a body that is not a model list, or silence count as down', async (t) => {
  const fake = await fakeOllama(t);
  const silent = net.createServer(() => undefined).listen(0, '127.0.0.1');
  await once(silent, 'listening');
  const sockets: net.Socket[] = [];
  silent.on('connection', (s) => sockets.push(s));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    silent.close();
  });
  const silentPort = (silent.address() as net.AddressInfo).port;
  const log = logLines();
  const discovery = await discover(t, {
    services: [
      service(fake.port, { name: 'wrong-host', hostHeader: 'proxima.example.com' }),
      service(silentPort, { name: 'silent' }),
      service(fake.port, { name: 'fine' }),
    ],
    requestTimeoutMs: 200,
    logger: log.logger,
  });
  t.same(names(discovery.models, 'wrong-host'), []);
  t.same(names(discovery.models, 'silent'), []);
  t.same(names(discovery.models, 'fine'), ['all-minilm:latest', 'llama3.2:latest', 'qwen2.5:0.5b']);
  const warned = log.messages('cannot read the models of ollama: the last ones read stay advertised until it answers');
  t.match(
    warned.find((l) => l.service === 'wrong-host'),
    { err: { code: 'PRX_ERR_HTTP_BAD_RESPONSE', message: /HTTP 403/ } },
  );
  t.match(
    warned.find((l) => l.service === 'silent'),
    { err: { name: /TimeoutError|AbortError/ } },
  );
});

t.test('destroy() cuts a read under way at once; close() and destroy() are idempotent', async (t) => {
  // Answers the first request with an empty list, then stays silent: the next read hangs.
  let requests = 0;
  const sockets: net.Socket[] = [];
  const server = net
    .createServer((socket) => {
      sockets.push(socket);
      socket.on('data', () => {
        if (++requests === 1) socket.write('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{"models":[]}');
        else server.emit('hanging');
      });
    })
    .listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  const discovery = await discover(t, { services: [service((server.address() as net.AddressInfo).port)], requestTimeoutMs: 600_000 });
  const reading = discovery.refresh();
  await once(server, 'hanging');
  await within(discovery.destroy(), 5_000, 'destroy');
  await reading;
  await discovery.destroy();
  await discovery.close();
  t.equal(requests, 2);
});
