/**
 * The statements of presence on PostgreSQL (postgres-presence-store.ts writes, remote-presence.ts
 * and `nodes list` read). Every lease time is PostgreSQL's own clock (`now()`), so the instances'
 * clocks never decide whether a lease is live; `connected_at` (which login is newer) is the clock of
 * the instance that took the login.
 */
import type { ServiceAdvert } from '../../proto/control/messages.js';

/** This instance's lease: a new row at start (its nodes' rows are written after it). $1 id, $2 peer, $3 expiry ms. */
export const SQL_OPEN_LEASE = `
INSERT INTO proxima_instances (id, peer, lease_until) VALUES ($1, $2, now() + $3::int * interval '1 millisecond')
ON CONFLICT (id) DO UPDATE SET peer = EXCLUDED.peer, lease_until = EXCLUDED.lease_until`;

/**
 * Renews this instance's lease and removes every expired one (with their nodes' rows, by cascade)
 * in one statement: one transaction per lease interval, whatever the number of nodes.
 * $1 id, $2 expiry ms. Answers `renewed` (0 when this lease was lost) and the ids of the dead.
 */
export const SQL_RENEW_LEASE = `
WITH renewed AS (
  UPDATE proxima_instances SET lease_until = now() + $2::int * interval '1 millisecond' WHERE id = $1 RETURNING id
), dead AS (
  DELETE FROM proxima_instances WHERE lease_until < now() AND id <> $1 RETURNING id
)
SELECT (SELECT count(*) FROM renewed)::int AS renewed, ARRAY(SELECT id FROM dead) AS dead`;

/** A clean stop: the lease and, by cascade, every row of its nodes. $1 id. */
export const SQL_DROP_LEASE = 'DELETE FROM proxima_instances WHERE id = $1';

/**
 * Writes nodes' rows. A row another instance holds is taken only by a newer login (a later
 * `connected_at`) or when that instance's lease has expired; a node the registry does not hold is
 * skipped (the row references it). Answers every node given: `written`, `registered`.
 * $1 instance; $2.. arrays: node, session, connected_at, services, models, capacity, address, client_version.
 */
export const SQL_PUT_NODES = `
WITH input AS (
  SELECT * FROM unnest($2::text[], $3::text[], $4::timestamptz[], $5::jsonb[], $6::jsonb[], $7::int[], $8::text[], $9::text[])
    AS u(node, session, connected_at, services, models, capacity, address, client_version)
), written AS (
  INSERT INTO proxima_presence AS p (node, instance, session, connected_at, services, models, capacity, address, client_version, updated_at)
  SELECT i.node, $1, i.session, i.connected_at, i.services, i.models, i.capacity, i.address, i.client_version, now()
    FROM input i WHERE EXISTS (SELECT 1 FROM proxima_nodes n WHERE n.name = i.node)
  ON CONFLICT (node) DO UPDATE SET
    instance = EXCLUDED.instance, session = EXCLUDED.session, connected_at = EXCLUDED.connected_at,
    services = EXCLUDED.services, models = EXCLUDED.models, capacity = EXCLUDED.capacity,
    address = EXCLUDED.address, client_version = EXCLUDED.client_version, updated_at = now()
  WHERE p.instance = EXCLUDED.instance
     OR p.connected_at <= EXCLUDED.connected_at
     OR NOT EXISTS (SELECT 1 FROM proxima_instances l WHERE l.id = p.instance AND l.lease_until >= now())
  RETURNING p.node
)
SELECT i.node,
       EXISTS (SELECT 1 FROM written w WHERE w.node = i.node) AS written,
       EXISTS (SELECT 1 FROM proxima_nodes n WHERE n.name = i.node) AS registered
  FROM input i`;

/** Removes nodes' rows, only where this instance still holds them. $1 instance, $2 names. */
export const SQL_REMOVE_NODES = 'DELETE FROM proxima_presence WHERE instance = $1 AND node = ANY($2::text[]) RETURNING node';

/** The columns a presence row is read with (joined with its instance as `i`). */
const ROW_COLUMNS = `p.node, p.instance, i.peer, p.session, p.connected_at, p.services, p.address, p.client_version, p.updated_at`;

/** Rows of live instances other than $1. */
export const SQL_REMOTE_ROWS = `
SELECT ${ROW_COLUMNS} FROM proxima_presence p JOIN proxima_instances i ON i.id = p.instance
 WHERE i.lease_until >= now() AND p.instance <> $1`;

/** The rows of some nodes, whatever their instance, live or not: $1 names. */
export const SQL_NODE_ROWS = `
SELECT ${ROW_COLUMNS}, (i.lease_until >= now()) AS live FROM proxima_presence p JOIN proxima_instances i ON i.id = p.instance
 WHERE p.node = ANY($1::text[])`;

/** Every lease with its time left (ms, negative when expired), by PostgreSQL's clock. */
export const SQL_LEASES = `
SELECT id, peer, started_at, lease_until, (extract(epoch FROM lease_until - now()) * 1000)::float8 AS left_ms FROM proxima_instances`;

/** Every row with whether its instance's lease is live (for `nodes list` and the dashboard). */
export const SQL_ALL_ROWS = `
SELECT ${ROW_COLUMNS}, (i.lease_until >= now()) AS live FROM proxima_presence p JOIN proxima_instances i ON i.id = p.instance`;

/** `capacity` of a row: requests the node takes at once over its services; null when none says. */
export function capacityOf(adverts: readonly ServiceAdvert[]): number | null {
  const limits = adverts.map((s) => s.maxConcurrent).filter((n): n is number => n !== undefined);
  return limits.length === 0 ? null : limits.reduce((a, b) => a + b, 0);
}

/** A presence row as read. */
export interface PresenceRow {
  node: string;
  instance: string;
  peer: string | null;
  session: string;
  connected_at: Date;
  services: unknown;
  address: string | null;
  client_version: string | null;
  updated_at: Date;
  live?: boolean;
}
