import t from 'tap';
import type { ServiceAdvert } from '../../../../src/proto/control/messages.js';
import type { DashboardFeed } from '../../../../src/server/admin/dashboard/dashboard-feed.js';
import type { DashboardRewards } from '../../../../src/server/admin/dashboard/dashboard-rewards.js';
import { dashboardState, type StateSources } from '../../../../src/server/admin/dashboard/dashboard-state.js';
import type { NodeRecord } from '../../../../src/server/registry/node-store.js';

const SERVICES: ServiceAdvert[] = [
  { name: 'llm', kind: 'ollama', maxConcurrent: 2, models: [{ name: 'llama3.2:latest', digest: 'sha256:abc' }] },
];
const record = (name: string): NodeRecord =>
  ({ name, keyId: 'k', createdAt: '2026-12-07T00:00:00.000Z', lastSeenAt: null, services: ['llm'] }) as NodeRecord;

/** Sources with a local node `here`, a node `there` another instance holds, and `gone`, offline. */
function sources(remote: boolean): StateSources {
  return {
    registry: { list: async () => [record('here'), record('there'), record('gone')] },
    nodes: { live: (name) => (name === 'here' ? { services: SERVICES } : undefined) },
    catalog: { online: () => [] },
    router: { inFlight: () => 0, queuedFor: () => 0 },
    feed: {
      liveness: () => ({ onlineSinceMs: null, offlineSinceMs: null, lastProbe: null }),
      traffic: () => ({}),
      errors: () => [],
    } as unknown as DashboardFeed,
    rewards: { recent: async () => [] } as unknown as DashboardRewards,
    ...(remote
      ? {
          instance: 'inst-a',
          remote: {
            get: (name: string) =>
              name === 'there' ? { instance: 'inst-b', connectedAt: '2026-12-07T10:00:00.000Z', services: SERVICES } : undefined,
          },
        }
      : {}),
  };
}

t.test('with presence in PostgreSQL, a node another instance holds is online, with the instance holding each', async (t) => {
  const { nodes } = await dashboardState(sources(true), { role: 'admin' });
  t.match(nodes, [
    { name: 'here', online: true, instance: 'inst-a', services: [{ name: 'llm', models: ['llama3.2:latest'] }] },
    {
      name: 'there',
      online: true,
      instance: 'inst-b',
      onlineSinceMs: Date.parse('2026-12-07T10:00:00.000Z'),
      services: [{ name: 'llm', maxConcurrent: 2 }],
    },
    { name: 'gone', online: false, instance: null },
  ]);
});

t.test('on the data folder alone, nothing changes: no instance field', async (t) => {
  const { nodes } = await dashboardState(sources(false), { role: 'admin' });
  t.same(
    nodes.map((n) => [n.name, n.online, 'instance' in n]),
    [
      ['here', true, false],
      ['there', false, false],
      ['gone', false, false],
    ],
  );
});
