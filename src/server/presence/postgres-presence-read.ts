/**
 * Presence as another process reads it from PostgreSQL (`nodes list`, the dashboard): every
 * instance's lease and every node's row, a node online while its instance's lease is live by
 * PostgreSQL's clock. Read-only: one statement each, nothing written.
 */
import type { ServiceAdvert } from '../../proto/control/messages.js';
import type { PostgresStore } from '../storage/postgres/postgres-pool.js';
import { type PresenceRow, SQL_ALL_ROWS, SQL_LEASES } from './presence-sql.js';
import type { InstanceLease, NodePresence, PresenceSnapshot } from './presence-store.js';

/** The snapshot and which instances are live now. */
export interface SharedPresence {
  snapshot: PresenceSnapshot;
  /** Ids of the instances whose lease is live. */
  live: ReadonlySet<string>;
}

/** Reads presence (PRX_ERR_STORE_UNAVAILABLE, URL redacted, when it cannot). */
export async function readSharedPresence(store: PostgresStore): Promise<SharedPresence> {
  try {
    const leases = await store.pool.query<{ id: string; peer: string | null; started_at: Date; lease_until: Date; left_ms: number }>(
      SQL_LEASES,
    );
    const rows = await store.pool.query<PresenceRow>(SQL_ALL_ROWS);
    const live = new Set(leases.rows.filter((l) => l.left_ms >= 0).map((l) => l.id));
    const snapshot: PresenceSnapshot = {
      leases: leases.rows.map(
        (l): InstanceLease => ({
          instance: l.id,
          pid: 0,
          host: l.peer ?? '',
          startedAt: l.started_at.toISOString(),
          updatedAt: l.lease_until.toISOString(),
          leaseIntervalMs: 0,
        }),
      ),
      nodes: rows.rows.map(nodeOf),
    };
    return { snapshot, live };
  } catch (err) {
    throw store.failure('cannot read presence', err);
  }
}

function nodeOf(row: PresenceRow): NodePresence {
  const adverts = Array.isArray(row.services) ? (row.services as ServiceAdvert[]) : [];
  return {
    name: row.node,
    instance: row.instance,
    connectedAt: row.connected_at.toISOString(),
    // Heartbeats are not written: the row's last write is what PostgreSQL knows.
    lastSeenAt: row.updated_at.toISOString(),
    address: row.address ?? '',
    clientVersion: row.client_version,
    services: adverts.map((s) => ({
      name: s.name,
      kind: s.kind,
      models: (s.models ?? []).map((m) => m.name),
      ...(s.maxConcurrent === undefined ? {} : { maxConcurrent: s.maxConcurrent }),
    })),
  };
}
