import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import t from 'tap';
import { silentLogger } from '../../../../src/log.js';
import type { ModelHost, ModelNode } from '../../../../src/server/models/routing/model-catalog.js';
import { UpstreamPools } from '../../../../src/server/models/routing/upstream-pools.js';

/** A node whose streams never open: a request to it stays queued in its pool, as one to a node that just died. */
function silentNode(name: string): { node: ModelNode; host: ModelHost; opens: () => number } {
  let opens = 0;
  const node = {
    name,
    online: true,
    services: [{ name: 'ollama', kind: 'ollama', models: [] }],
    openStream: () => {
      opens++;
      return { stream: new PassThrough(), opened: new Promise<void>(() => undefined) };
    },
  } as unknown as ModelNode;
  const host = { node, service: 'ollama', hostHeader: 'localhost:11434', maxConcurrent: 1, key: 'm', model: {} } as unknown as ModelHost;
  return { node, host, opens: () => opens };
}

/** Resolves to whether `promise` settled within `ms`. */
function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  return Promise.race([promise.then(() => true), late]).finally(() => clearTimeout(timer));
}

const waitFor = async (check: () => boolean): Promise<void> => {
  while (!check()) await new Promise((resolve) => setImmediate(resolve));
};

t.test('close() ends when a node session that still has a request queued goes away', async (t) => {
  const nodes = new EventEmitter();
  const pools = new UpstreamPools({ nodes, logger: silentLogger });
  t.teardown(() => pools.destroy());
  const { node, host, opens } = silentNode('alpha');
  const request = pools.pool(host).request({ method: 'GET', path: '/api/tags' });
  const failed = request.then(
    () => 'answered',
    (err: Error) => err.name,
  );
  await waitFor(() => opens() === 1);

  const closing = pools.close();
  t.notOk(await settlesWithin(closing, 50), 'a graceful close waits for the queued request');
  nodes.emit('closed', node);
  t.ok(await settlesWithin(closing, 5_000), 'the session is gone: its pool is destroyed, and close() ends');
  t.equal(await failed, 'ClientDestroyedError', 'the queued request fails');
  t.equal(pools.size, 0);
});

t.test('a pool closing because its node drains is destroyed when the session ends', async (t) => {
  const nodes = new EventEmitter();
  const pools = new UpstreamPools({ nodes, logger: silentLogger });
  t.teardown(() => pools.destroy());
  const { node, host, opens } = silentNode('beta');
  const failed = pools
    .pool(host)
    .request({ method: 'GET', path: '/api/tags' })
    .then(
      () => 'answered',
      (err: Error) => err.name,
    );
  await waitFor(() => opens() === 1);
  nodes.emit('draining', node);
  t.equal(pools.size, 0, 'the draining node has no pool for new requests');
  nodes.emit('closed', node);
  t.equal(await failed, 'ClientDestroyedError');
  t.ok(await settlesWithin(pools.close(), 5_000), 'nothing is left to wait for');
});
