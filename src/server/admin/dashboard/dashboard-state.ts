/**
 * The JSON the dashboard page polls: nodes, models, traffic, rewards and recent errors. An operator
 * (logged in with a node token) gets their node only, filtered here on the server: the page never
 * receives another node's name, models, traffic, earnings or errors.
 */
import type { ServiceAdvert } from '../../../proto/control/messages.js';
import type { NodeRecord } from '../../registry/node-store.js';
import type { DashboardFeed, NodeLiveness, RecentError } from './dashboard-feed.js';
import type { DashboardRewards, EpochRewards } from './dashboard-rewards.js';
import type { DashboardViewer } from './dashboard-sessions.js';
import type { TrafficSeries } from './traffic-ring.js';

/** Where the state is read from: the registry, the live sessions, the model API's catalog and router. */
export interface StateSources {
  registry: { list(): Promise<NodeRecord[]> };
  nodes: { live(name: string): { readonly services: readonly ServiceAdvert[] } | undefined };
  catalog: {
    online(): { key: string; hosts: { node: { name: string }; service: string; maxConcurrent: number; model: { name: string } }[] }[];
  };
  router: { inFlight(node: string, service: string): number; queuedFor(key: string): number };
  feed: DashboardFeed;
  rewards: DashboardRewards;
  now?: () => number;
  /** With presence in PostgreSQL: the nodes other instances hold, and this instance's id. */
  remote?: { get(name: string): { instance: string; connectedAt: string; services: readonly ServiceAdvert[] } | undefined };
  instance?: string;
}

export interface ServiceState {
  name: string;
  kind: string;
  models: string[];
  inFlight: number;
  maxConcurrent: number | null;
}

export interface NodeState extends NodeLiveness {
  name: string;
  online: boolean;
  lastSeenAt: string | null;
  services: ServiceState[];
  /** With presence in PostgreSQL: the instance holding its session while online (else null); absent otherwise. */
  instance?: string | null;
}

export interface ModelState {
  model: string;
  nodes: string[];
  inFlight: number;
  maxConcurrent: number;
  queued: number;
}

export interface DashboardState {
  viewer: { role: 'admin' } | { role: 'node'; node: string };
  nowMs: number;
  nodes: NodeState[];
  models: ModelState[];
  traffic: TrafficSeries;
  rewards: EpochRewards[];
  errors: RecentError[];
}

/** The state as `viewer` may see it. */
export async function dashboardState(sources: StateSources, viewer: DashboardViewer): Promise<DashboardState> {
  const only = viewer.role === 'node' ? viewer.node : undefined;
  const records = (await sources.registry.list()).filter((r) => only === undefined || r.name === only);
  const nodes = records.map((record) => nodeState(sources, record));
  const models: ModelState[] = [];
  for (const { key, hosts } of sources.catalog.online()) {
    const mine = hosts.filter((h) => only === undefined || h.node.name === only);
    if (mine.length === 0) continue;
    models.push({
      model: mine[0]!.model.name,
      nodes: [...new Set(mine.map((h) => h.node.name))],
      inFlight: mine.reduce((n, h) => n + sources.router.inFlight(h.node.name, h.service), 0),
      maxConcurrent: mine.reduce((n, h) => n + h.maxConcurrent, 0),
      // The queue is the network's for that model: an operator sees how many wait, not for whom.
      queued: sources.router.queuedFor(key),
    });
  }
  const rewards = (await sources.rewards.recent()).map((epoch) => ({
    ...epoch,
    nodes: epoch.nodes.filter((n) => only === undefined || n.node === only),
  }));
  return {
    viewer: only === undefined ? { role: 'admin' } : { role: 'node', node: only },
    nowMs: (sources.now ?? Date.now)(),
    nodes,
    models: models.sort((a, b) => a.model.localeCompare(b.model)),
    traffic: sources.feed.traffic(only),
    rewards,
    errors: sources.feed.errors(only),
  };
}

function nodeState(sources: StateSources, record: NodeRecord): NodeState {
  const local = sources.nodes.live(record.name);
  // Held by another instance: online too; its requests in flight are that instance's to count.
  const remote = local === undefined ? sources.remote?.get(record.name) : undefined;
  const live = local ?? remote;
  const services: ServiceState[] = (live?.services ?? []).map((s) => ({
    name: s.name,
    kind: s.kind,
    models: (s.models ?? []).map((m) => m.name),
    inFlight: sources.router.inFlight(record.name, s.name),
    maxConcurrent: s.maxConcurrent ?? null,
  }));
  // Offline, the services are the names it advertised when last seen.
  if (live === undefined)
    for (const name of record.services) services.push({ name, kind: '', models: [], inFlight: 0, maxConcurrent: null });
  const state: NodeState = {
    name: record.name,
    online: live !== undefined,
    lastSeenAt: record.lastSeenAt,
    services,
    ...sources.feed.liveness(record.name),
  };
  if (remote !== undefined) Object.assign(state, { onlineSinceMs: Date.parse(remote.connectedAt), offlineSinceMs: null });
  if (sources.remote !== undefined) state.instance = local !== undefined ? (sources.instance ?? null) : (remote?.instance ?? null);
  return state;
}
