import { EventEmitter } from 'node:events';
import t from 'tap';
import { ProximaError } from '../../../../src/errors.js';
import type { ModelHost, ModelLookup, ModelNode } from '../../../../src/server/models/routing/model-catalog.js';
import { type Lease, ModelRouter } from '../../../../src/server/models/routing/model-router.js';

/** A catalog whose hosts a test sets directly. */
class TestCatalog extends EventEmitter<{ change: [] }> {
  readonly hosts = new Map<string, ModelHost[]>();
  offline = new Set<string>();

  lookup(key: string): ModelLookup {
    const hosts = (this.hosts.get(key) ?? []).filter((h) => h.node.online);
    if (hosts.length > 0) return { status: 'online', hosts };
    return this.offline.has(key) || this.hosts.has(key) ? { status: 'offline' } : { status: 'unknown' };
  }

  add(key: string, node: string, maxConcurrent: number): ModelHost {
    const live: ModelNode = {
      name: node,
      services: [],
      online: true,
      openStream: () => {
        throw new Error('not here');
      },
    };
    const host: ModelHost = {
      node: live,
      service: 'ollama',
      hostHeader: 'localhost:11434',
      maxConcurrent,
      model: { name: key, digest: 'd' },
      key,
    };
    this.hosts.set(key, [...(this.hosts.get(key) ?? []), host]);
    return host;
  }
}

function setup(options: { maxQueued?: number; maxQueueWaitMs?: number; random?: () => number } = {}) {
  const catalog = new TestCatalog();
  const router = new ModelRouter({
    catalog,
    maxQueued: options.maxQueued ?? 10,
    maxQueueWaitMs: options.maxQueueWaitMs ?? 60_000,
    random: options.random,
  });
  t.teardown(() => router.close());
  return { catalog, router };
}

const code = (err: unknown): string | undefined => (err instanceof ProximaError ? err.code : undefined);
const settled = <T>(p: Promise<T>): { value?: T; err?: unknown; done: boolean } => {
  const state: { value?: T; err?: unknown; done: boolean } = { done: false };
  p.then(
    (value) => Object.assign(state, { value, done: true }),
    (err: unknown) => Object.assign(state, { err, done: true }),
  );
  return state;
};
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

t.test('fewest in flight first, never above maxConcurrent, ties at random', async (t) => {
  const { catalog, router } = setup({ random: () => 0.99 });
  catalog.add('m', 'a', 2);
  catalog.add('m', 'b', 1);
  const first = await router.acquire('m');
  t.equal(first.host.node.name, 'b', 'a tie between a and b: random 0.99 takes the last');
  const second = await router.acquire('m');
  t.equal(second.host.node.name, 'a', 'b has 1 in flight, a none');
  const third = await router.acquire('m');
  t.equal(third.host.node.name, 'a', 'b is full (1 of 1): a takes its second');
  t.same([router.inFlight('a', 'ollama'), router.inFlight('b', 'ollama')], [2, 1]);
  const fourth = settled(router.acquire('m'));
  await tick();
  t.notOk(fourth.done, 'every node is at its maxConcurrent: the request waits');
  t.equal(router.queued, 1);
  first.release();
  first.release();
  await tick();
  t.equal(fourth.value?.host.node.name, 'b', 'the freed slot goes to the waiter');
  t.equal(router.inFlight('b', 'ollama'), 1, 'a second release changes nothing');
  for (const lease of [second, third, fourth.value!]) lease.release();
  t.same([router.inFlight('a', 'ollama'), router.inFlight('b', 'ollama'), router.queued], [0, 0, 0]);
});

t.test('the random tie-break is the injected one', async (t) => {
  const picks: string[] = [];
  for (const r of [0, 0.34, 0.67, 0.99]) {
    const { catalog, router } = setup({ random: () => r });
    for (const n of ['a', 'b', 'c']) catalog.add('m', n, 1);
    picks.push((await router.acquire('m')).host.node.name);
  }
  t.same(picks, ['a', 'b', 'c', 'c']);
});

t.test('FIFO: the oldest waiter that can use a slot gets it; a cancelled waiter leaves the queue', async (t) => {
  const { catalog, router } = setup();
  catalog.add('m', 'a', 1);
  catalog.add('other', 'b', 1);
  const held = await router.acquire('m');
  const heldOther = await router.acquire('other');
  const gone = new AbortController();
  const w1 = settled(router.acquire('m'));
  const w2 = settled(router.acquire('m', { signal: gone.signal }));
  const w3 = settled(router.acquire('m'));
  const wOther = settled(router.acquire('other'));
  await tick();
  t.equal(router.queued, 4);
  gone.abort(new Error('the user left'));
  await tick();
  t.equal(w2.err instanceof Error && (w2.err as Error).message, 'the user left', "rejects with the signal's reason");
  t.equal(router.queued, 3, 'the cancelled waiter left the queue');
  heldOther.release();
  await tick();
  t.equal(wOther.value?.host.node.name, 'b', 'a waiter for another model is not held up behind the first ones');
  held.release();
  await tick();
  t.ok(w1.done && !w3.done, 'the oldest waiter first');
  w1.value!.release();
  await tick();
  t.ok(w3.done, 'then the next');
  w3.value!.release();
  wOther.value!.release();
});

t.test('a bounded queue: full at once, or too long a wait, is PRX_ERR_NODES_BUSY', async (t) => {
  const { catalog, router } = setup({ maxQueued: 1, maxQueueWaitMs: 30 });
  catalog.add('m', 'a', 1);
  const held = await router.acquire('m');
  const waiting = router.acquire('m');
  t.equal(code(await router.acquire('m').catch((e: unknown) => e)), 'PRX_ERR_NODES_BUSY', 'the queue is full');
  t.equal(code(await waiting.catch((e: unknown) => e)), 'PRX_ERR_NODES_BUSY', 'the wait ran out');
  t.equal(router.queued, 0);
  const { catalog: c2, router: noQueue } = setup({ maxQueued: 0 });
  c2.add('m', 'a', 1);
  await noQueue.acquire('m');
  t.equal(code(await noQueue.acquire('m').catch((e: unknown) => e)), 'PRX_ERR_NODES_BUSY', 'maxQueued 0: nobody waits');
  held.release();
});

t.test('unknown, offline and excluded models; metadata takes no slot; a new node lets waiters in; close', async (t) => {
  const { catalog, router } = setup();
  catalog.offline.add('gone');
  t.equal(code(await router.acquire('nope').catch((e: unknown) => e)), 'PRX_ERR_MODEL_NOT_FOUND');
  t.equal(code(await router.acquire('gone').catch((e: unknown) => e)), 'PRX_ERR_MODEL_UNAVAILABLE');
  catalog.add('m', 'a', 1);
  t.equal(
    code(await router.acquire('m', { exclude: new Set(['a']) }).catch((e: unknown) => e)),
    'PRX_ERR_MODEL_UNAVAILABLE',
    'only excluded nodes',
  );
  t.notOk(router.hasOther('m', new Set(['a'])));
  const held = await router.acquire('m');
  const show: Lease = await router.acquire('m', { ignoreCapacity: true });
  t.equal(show.host.node.name, 'a', 'metadata goes to a full node at once');
  show.release();
  const waiter = settled(router.acquire('m'));
  await tick();
  catalog.add('m', 'b', 1);
  catalog.emit('change');
  await tick();
  t.equal(waiter.value?.host.node.name, 'b', 'a node that comes online takes a waiter');
  const last = settled(router.acquire('m'));
  await tick();
  router.close();
  await tick();
  t.equal(code(last.err), 'PRX_ERR_SERVER_DRAINING');
  t.equal(code(await router.acquire('m').catch((e: unknown) => e)), 'PRX_ERR_SERVER_DRAINING');
  held.release();
  waiter.value!.release();
});
