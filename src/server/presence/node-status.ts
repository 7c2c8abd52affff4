/**
 * A node's status as `nodes list` and `GET /nodes` show it: its registry record joined with its
 * presence, online only while the instance holding it renews its lease.
 */
import os from 'node:os';
import type { NodeRecord } from '../registry/node-store.js';
import { pidAlive } from '../storage/file-lock.js';
import { type InstanceLease, leaseIsLive, type PresenceSnapshot } from './presence-store.js';

/** One node, registered, online or not. */
export interface NodeStatus {
  name: string;
  keyId: string;
  createdAt: string;
  online: boolean;
  /** While online: when its session was established. */
  connectedAt: string | null;
  /** The last time a super node heard from it; null if never. */
  lastSeenAt: string | null;
  /** While online: where its control connection comes from, and its client's version. */
  address: string | null;
  clientVersion: string | null;
  /** The services it advertises (online), or last advertised (offline). */
  services: string[];
  /** While online: the models it shares. */
  models: string[];
  /** With presence in PostgreSQL only: the instance holding its session while online, else null. */
  instance?: string | null;
}

/** Joins records and presence; `liveLease` says whether an instance's nodes are online. */
export function nodeStatuses(
  records: NodeRecord[],
  presence: PresenceSnapshot,
  liveLease: (lease: InstanceLease) => boolean,
  options: { withInstance?: boolean } = {},
): NodeStatus[] {
  const statuses = joined(records, presence, liveLease);
  if (options.withInstance !== true) return statuses;
  const rows = new Map(presence.nodes.map((n) => [n.name, n.instance]));
  return statuses.map((s) => ({ ...s, instance: s.online ? (rows.get(s.name) ?? null) : null }));
}

function joined(records: NodeRecord[], presence: PresenceSnapshot, liveLease: (lease: InstanceLease) => boolean): NodeStatus[] {
  const live = new Set(presence.leases.filter(liveLease).map((l) => l.instance));
  const rows = new Map(presence.nodes.map((n) => [n.name, n]));
  return records.map((record) => {
    const row = rows.get(record.name);
    const lastSeenAt = latest(record.lastSeenAt, row?.lastSeenAt);
    const base = { name: record.name, keyId: record.keyId, createdAt: record.createdAt, lastSeenAt };
    if (row === undefined || !live.has(row.instance)) {
      return { ...base, online: false, connectedAt: null, address: null, clientVersion: null, services: record.services, models: [] };
    }
    return {
      ...base,
      online: true,
      connectedAt: row.connectedAt,
      address: row.address,
      clientVersion: row.clientVersion,
      services: row.services.map((s) => s.name),
      models: [...new Set(row.services.flatMap((s) => s.models))].sort(),
    };
  });
}

/** The later of two ISO times, either possibly missing. */
function latest(a: string | null | undefined, b: string | undefined): string | null {
  if (a === null || a === undefined) return b ?? null;
  if (b === undefined) return a;
  return Date.parse(b) > Date.parse(a) ? b : a;
}

/** Read from another process (the CLI): a lease is live while renewed and its process runs (same host). */
export function leaseLiveAt(nowMs: number): (lease: InstanceLease) => boolean {
  return (lease) => leaseIsLive(lease, nowMs, processRuns);
}

function processRuns(lease: InstanceLease): boolean {
  return lease.host !== os.hostname() || pidAlive(lease.pid); // another machine: the lease's age decides alone
}
