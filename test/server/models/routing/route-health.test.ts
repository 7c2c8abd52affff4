import t from 'tap';
import type { ModelHost, ModelNode } from '../../../../src/server/models/routing/model-catalog.js';
import { ModelRouter } from '../../../../src/server/models/routing/model-router.js';
import { RouteHealth } from '../../../../src/server/models/routing/route-health.js';

function host(node: string, service = 'ollama'): ModelHost {
  const live: ModelNode = {
    name: node,
    services: [],
    online: true,
    openStream: () => {
      throw new Error('not here');
    },
  };
  return { node: live, service, hostHeader: 'localhost:11434', maxConcurrent: 4, model: { name: 'm', digest: 'd' }, key: 'm:latest' };
}

function setup(avoidFlagged = true) {
  const clock = { mono: 0, wall: 1_000_000 };
  const health = new RouteHealth({
    breaker: { failures: 2, cooldownMs: 100, maxCooldownMs: 1_000 },
    avoidFlagged,
    unhealthyGraceMs: 500,
    monotonicNow: () => clock.mono,
    now: () => clock.wall,
  });
  return { health, clock };
}

t.test('the router passes over a host whose breaker is open; when all are, the model is unavailable (503), not unknown', async (t) => {
  const { health, clock } = setup();
  const a = host('a');
  const b = host('b');
  const catalog = { lookup: () => ({ status: 'online' as const, hosts: [a, b] }), on: () => undefined, off: () => undefined };
  const router = new ModelRouter({ catalog, maxQueued: 10, maxQueueWaitMs: 1_000, health, random: () => 0 });
  t.teardown(() => router.close());
  health.report(a, 'fault');
  health.report(a, 'fault');
  t.equal(health.state('a', 'ollama'), 'open');
  for (let i = 0; i < 5; i++) {
    const lease = await router.acquire('m:latest');
    t.equal(lease.host.node.name, 'b');
    lease.release();
  }
  health.report(b, 'fault');
  health.report(b, 'fault');
  await t.rejects(router.acquire('m:latest'), { code: 'PRX_ERR_MODEL_UNAVAILABLE', message: /failing or flagged/ });
  clock.mono = 100;
  const trial = await router.acquire('m:latest');
  t.equal(trial.host.node.name, 'a', 'a half-open host takes its trial (random 0 picks the first)');
  const second = await router.acquire('m:latest');
  t.equal(second.host.node.name, 'b', 'b takes its own trial');
  await t.rejects(router.acquire('m:latest'), { code: 'PRX_ERR_MODEL_UNAVAILABLE' }, 'both trials are out');
  health.report(trial.host, 'ok');
  trial.release();
  second.release(); // reported nothing: b's trial is free again
  t.equal(health.state('a', 'ollama'), 'closed');
  t.equal(health.state('b', 'ollama'), 'half-open');
});

t.test('a failed probe counts like a failed request; a 4xx or a user who left counts for nothing', async (t) => {
  const { health } = setup();
  const a = host('a');
  health.report(a, 'none');
  health.report(a, 'none');
  t.equal(health.state('a', 'ollama'), 'closed');
  health.probeFailed('a', 'ollama');
  health.report(a, 'fault');
  t.equal(health.state('a', 'ollama'), 'open');
  t.equal(health.state('a', 'other'), 'closed', 'one breaker per service');
});

t.test('a flagged node is refused until its epoch has settled; avoidFlagged: false ignores flags', async (t) => {
  const { health, clock } = setup();
  const a = host('a');
  health.flag('a', clock.wall + 60_000);
  t.notOk(health.admits(a));
  t.ok(health.flagged('a'));
  clock.wall += 60_000;
  t.ok(health.admits(a), 'settled: back in service');
  const off = setup(false);
  off.health.flag('a', off.clock.wall + 60_000);
  t.ok(off.health.admits(a));
});

t.test('lists keep a model while a host is healthy, or unhealthy within the grace', async (t) => {
  const { health, clock } = setup();
  const a = host('a');
  const b = host('b');
  health.report(a, 'fault');
  health.report(a, 'fault');
  t.ok(health.listable([a]));
  clock.mono = 499;
  t.ok(health.listable([a]));
  clock.mono = 500;
  t.notOk(health.listable([a]), 'past the grace');
  t.ok(health.listable([a, b]), 'b is healthy');
  health.flag('b', clock.wall + 10_000);
  t.ok(health.listable([a, b]), 'b flagged just now: within its grace');
  clock.mono = 1_000;
  t.notOk(health.listable([a, b]));
});
