/**
 * The presence of a starting super node: the data folder's presence file alone, or with a shared
 * store (issue 20) presence on PostgreSQL, the feed of the nodes other instances hold, and session
 * takeover across instances. server.ts calls {@link openPresence} once and stops it on close.
 */
import type { Logger } from '../../log.js';
import type { NodeSessions } from '../control/node-sessions.js';
import type { SharedStore } from '../storage/postgres/shared-store.js';
import { JsonPresenceStore } from './json-presence-store.js';
import type { PresenceConfig } from './presence-config.js';
import type { PresenceSnapshot, PresenceStore } from './presence-store.js';
import { trackPresence } from './presence-tracker.js';
import { PgRemotePresence } from './remote-presence.js';
import { followTakeovers } from './takeover.js';

export interface OpenPresenceOptions {
  /** server.yaml's `presence` and `dataDir`. */
  config: { presence: PresenceConfig; dataDir: string };
  nodes: NodeSessions;
  /** With it, presence is in PostgreSQL. */
  shared?: SharedStore;
  /** cluster.advertise: where other instances reach this one; null without a cluster. */
  peer?: string | null;
  /** A node left (the registry records when it was last seen). */
  onLeave(name: string): void;
  now?: () => number;
  logger: Logger;
}

/** What runs; `stop` ends tracking and closes the stores (the lease is removed). Idempotent. */
export interface PresenceParts {
  store: PresenceStore;
  /** Nodes other instances hold; undefined without a shared store. */
  remote: PgRemotePresence | undefined;
  /** What `GET /nodes` shows: this instance's nodes, and with a shared store the other instances' too. */
  view: Pick<PresenceStore, 'current'>;
  stop(): Promise<void>;
}

export async function openPresence(o: OpenPresenceOptions): Promise<PresenceParts> {
  const { nodes, logger, now } = o;
  const config = o.config.presence;
  if (o.shared === undefined) {
    const store = await JsonPresenceStore.open({ ...config, dataDir: o.config.dataDir, now, logger });
    const untrack = trackPresence({ nodes, store, now, onLeave: o.onLeave });
    const stop = once(() => {
      untrack();
      return store.close();
    });
    return { store, remote: undefined, view: store, stop };
  }
  const { store: pg, notifier, instance } = o.shared;
  const lease = { leaseIntervalMs: config.leaseIntervalMs, leaseExpiryMs: config.leaseExpiryMs };
  const { PostgresPresenceStore } = await import('./postgres-presence-store.js');
  const store = await PostgresPresenceStore.open({ store: pg, notifier, instance, peer: o.peer ?? null, ...lease, now, logger });
  let remote: PgRemotePresence;
  try {
    remote = await PgRemotePresence.open({ store: pg, notifier, instance, leaseIntervalMs: config.leaseIntervalMs, logger });
  } catch (err) {
    await store.close();
    throw err;
  }
  const untrack = trackPresence({ nodes, store, now, onLeave: o.onLeave });
  const unfollow = followTakeovers(nodes, remote, store);
  logger.info('presence: in PostgreSQL', { instance, remoteNodes: remote.nodes().length, leaseExpiryMs: config.leaseExpiryMs });
  const view = {
    current: (): PresenceSnapshot => {
      const local = store.current();
      const rows = remote.rows();
      // Only live instances' nodes are in the feed: their leases count as live here.
      const leases = [...new Set(rows.map((r) => r.instance))].map((id) => ({ ...local.leases[0]!, instance: id, pid: 0, host: '' }));
      return { leases: [...local.leases, ...leases], nodes: [...local.nodes, ...rows] };
    },
  };
  return {
    store,
    remote,
    view,
    stop: once(async () => {
      unfollow();
      untrack();
      await remote.close();
      await store.close();
    }),
  };
}

function once(work: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => {
    done ??= work();
    return done;
  };
}
