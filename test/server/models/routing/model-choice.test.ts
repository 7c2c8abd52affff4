import t, { type Test } from 'tap';
import { type ConfigError, ProximaError } from '../../../../src/errors.js';
import { modelKey } from '../../../../src/proto/llm/model-name.js';
import { parseServerConfig } from '../../../../src/server/config.js';
import { listOllamaTags, listOpenAiModels, retrieveOpenAiModel } from '../../../../src/server/models/catalog-routes.js';
import { acquireModel, hasOtherHost } from '../../../../src/server/models/routing/model-choice.js';
import { ModelNames } from '../../../../src/server/models/routing/model-names.js';
import { ModelRouter } from '../../../../src/server/models/routing/model-router.js';
import { TestCatalog } from '../../../fixtures/test-catalog.js';

const k = (name: string): string => modelKey(name)!;
const code = (err: unknown): string | undefined => (err instanceof ProximaError ? err.code : undefined);

const MODELS = {
  aliases: { llama3: ['llama3.2:3b', 'llama3.1:8b'], 'gpt-4o': ['qwen2.5:14b'] },
  fallbacks: { 'qwen2.5:32b': 'qwen2.5:14b', 'big:70b': ['qwen2.5:32b', 'llama3'] },
};

function setup(t: Test) {
  const catalog = new TestCatalog();
  const names = new ModelNames(catalog, parseServerConfig({ models: MODELS }).models);
  const router = new ModelRouter({ catalog: names, maxQueued: 10, maxQueueWaitMs: 60_000 });
  t.teardown(() => router.close());
  return { catalog, names, router };
}

t.test('an alias stands for the hosts of all its node models; a real model of its name wins', async (t) => {
  const { catalog, names, router } = setup(t);
  t.same(names.lookup(k('llama3')), { status: 'unknown' });
  catalog.add(k('llama3.1:8b'), 'beta');
  catalog.setOnline('beta', false);
  t.same(names.lookup(k('llama3')), { status: 'offline' }, 'only offline node models: offline (503), not unknown');
  catalog.setOnline('beta', true);
  catalog.add(k('llama3.2:3b'), 'alpha');
  const found = names.lookup(k('Llama3:latest'));
  t.same(found.status === 'online' && found.hosts.map((h) => [h.node.name, h.key]), [
    ['alpha', k('llama3.2:3b')],
    ['beta', k('llama3.1:8b')],
  ]);
  const a = await router.acquire(k('llama3'));
  const b = await router.acquire(k('llama3'));
  t.same([a.host.node.name, b.host.node.name].sort(), ['alpha', 'beta'], 'one request to each: least busy over the union');
  a.release();
  b.release();
  t.same(
    names.online().map((m) => [m.name ?? m.key, m.hosts.length]),
    [
      [k('llama3.1:8b'), 1],
      [k('llama3.2:3b'), 1],
      ['llama3', 2],
    ],
    'listed under its configured name, in the order of keys',
  );
  catalog.add(k('llama3'), 'gamma');
  const real = names.lookup(k('llama3'));
  t.same(real.status === 'online' && real.hosts.map((h) => h.node.name), ['gamma'], 'a node sharing llama3 itself: the name is that model');
  t.notOk(
    names.online().some((m) => m.name !== undefined),
    'and the alias is not listed',
  );
});

t.test('listings: an alias under its configured name, held to a key allow-list like any model', async (t) => {
  const { catalog, names } = setup(t);
  catalog.add(k('llama3.2:3b'), 'alpha');
  const ids = (allowed?: Set<string>) => (listOpenAiModels(names, allowed) as { data: { id: string }[] }).data.map((m) => m.id);
  t.same(ids(), ['llama3.2:3b', 'llama3']);
  t.same(ids(new Set([k('llama3')])), ['llama3'], 'a key allowed the alias sees the alias only');
  t.same(
    (listOllamaTags(names) as { models: { name: string; model: string }[] }).models.map((m) => [m.name, m.model]),
    [
      ['llama3.2:3b', 'llama3.2:3b'],
      ['llama3', 'llama3'],
    ],
  );
  t.match(retrieveOpenAiModel(names, 'Llama3'), { id: 'Llama3', object: 'model' }, '/v1/models/{id} as asked');
  t.throws(() => retrieveOpenAiModel(names, 'gpt-4o'), { code: 'PRX_ERR_MODEL_NOT_FOUND' }, 'an alias whose models nobody shares');
});

t.test('fallbacks: used when the model is unknown, offline or busy; the model itself first', async (t) => {
  const { catalog, names, router } = setup(t);
  const q32 = k('qwen2.5:32b');
  catalog.add(k('qwen2.5:14b'), 'gamma', 2);
  const unknown = await acquireModel(router, names, q32);
  t.equal(unknown.host.key, k('qwen2.5:14b'), 'nobody shares qwen2.5:32b: the fallback serves');
  unknown.release();

  catalog.add(q32, 'alpha', 1);
  const own = await acquireModel(router, names, q32);
  t.same([own.host.node.name, own.host.key], ['alpha', q32], 'its own node has a free slot: no fallback');
  const busy = await acquireModel(router, names, q32);
  t.same([busy.host.node.name, busy.host.key], ['gamma', k('qwen2.5:14b')], 'its only node busy: the fallback');
  const busy2 = await acquireModel(router, names, q32);
  t.equal(busy2.host.node.name, 'gamma');
  let waited: string | undefined;
  const queued = new Promise<void>((resolve) => router.once('queued', (key) => resolve(void (waited = key))));
  const waiting = acquireModel(router, names, q32);
  await queued;
  t.equal(waited, q32, 'everything busy: it waits for the model asked for');
  own.release();
  t.equal((await waiting).host.node.name, 'alpha', 'and gets its node when it frees');
  busy.release();
  busy2.release();

  catalog.setOnline('alpha', false);
  const offline = await acquireModel(router, names, q32);
  t.equal(offline.host.key, k('qwen2.5:14b'), 'its node offline: the fallback');
  const offline2 = await acquireModel(router, names, q32);
  const queued2 = new Promise<string>((resolve) => router.once('queued', resolve));
  const waiting2 = acquireModel(router, names, q32);
  t.equal(await queued2, k('qwen2.5:14b'), 'offline and the fallback busy: it waits for the fallback');
  offline.release();
  (await waiting2).release();
  offline2.release();

  const excluded = await acquireModel(router, names, q32, { exclude: new Set(['gamma']) }).catch((err: unknown) => err);
  t.equal(code(excluded), 'PRX_ERR_MODEL_UNAVAILABLE', "every candidate excluded: the model's own error");
  t.notOk(hasOtherHost(router, names, q32, new Set(['gamma'])));
  t.ok(hasOtherHost(router, names, q32, new Set(['alpha'])), 'a retry may go to the fallback');
  const notFound = await acquireModel(router, names, k('nothing:1b')).catch((err: unknown) => err);
  t.equal(code(notFound), 'PRX_ERR_MODEL_NOT_FOUND', 'no fallback configured: 404 as before');
});

t.test('fallbacks are tried in order, an alias among them; fallbacks do not chain', async (t) => {
  const { catalog, names, router } = setup(t);
  catalog.add(k('llama3.1:8b'), 'beta');
  const lease = await acquireModel(router, names, k('big:70b'));
  t.equal(lease.host.key, k('llama3.1:8b'), 'qwen2.5:32b (unknown) skipped, the alias llama3 serves');
  lease.release();
  catalog.add(k('qwen2.5:14b'), 'gamma');
  const still = await acquireModel(router, names, k('big:70b'));
  t.equal(still.host.key, k('llama3.1:8b'), "qwen2.5:32b's own fallback (qwen2.5:14b) is not big:70b's");
  still.release();
  const noWait = await acquireModel(router, names, k('big:70b'), { wait: false });
  const refused = await acquireModel(router, names, k('big:70b'), { wait: false }).catch((err: unknown) => err);
  t.equal(code(refused), 'PRX_ERR_MODEL_NOT_FOUND', "wait: false and nobody free: the model's own error (big:70b is unknown)");
  noWait.release();
});

t.test('models in server.yaml: names checked, no chains, no duplicates', async (t) => {
  const problems = (models: unknown): string[] => {
    try {
      parseServerConfig({ models });
      return [];
    } catch (err) {
      return (err as ConfigError).problems.map((p) => `${p.path}: ${p.message}`);
    }
  };
  t.same(problems({ aliases: { a: ['b', 'c'] }, fallbacks: { b: 'a' } }), [], 'a fallback may be an alias');
  t.same(problems({ aliases: { a: ['b'], c: ['a'] } }), ['models.aliases.c: names the alias "a": aliases name node models, not aliases']);
  t.same(problems({ aliases: { a: ['library/A:latest'] } }), ['models.aliases.a: names itself (a:latest)']);
  t.same(problems({ aliases: { a: ['b', 'B:latest'] } }), ['models.aliases.a: names b:latest twice']);
  t.same(problems({ aliases: { 'a b': ['c'] } }), ['models.aliases.a b: must be a model name such as "llama3.2:3b", not "a b"']);
  t.same(problems({ aliases: { a: [] } }), ['models.aliases.a: must name 1 to 64 models']);
  t.same(problems({ aliases: ['a'] }), ['models.aliases: must be a mapping of model names to lists of node model names']);
  t.same(problems({ fallbacks: { a: 3 } }), ['models.fallbacks.a: must be a model name such as "llama3.2:3b", not 3']);
  t.same(problems({ alias: {} }), ['models.alias: unknown key (expected aliases, fallbacks)']);
  t.same(problems({ aliases: { x: ['y'], X: ['z'] } }), ['models.aliases.X: is the same model name as "x"']);
});
