/**
 * Presence: which nodes are online, held by which super node instance, since when and with what.
 * The shape is the one a shared store (PostgreSQL, issue 20) will have: one lease per instance,
 * renewed on an interval, and one row per node, written when it connects, changes its adverts or
 * leaves, never on a heartbeat. A node whose instance's lease has expired is offline, whatever its
 * row says, so a killed instance's nodes go offline without anyone cleaning up after it.
 */

import type { ServiceAdvert } from '../../proto/control/messages.js';

/** A service as presence shows it: no credentials, just what it is and which models it shares. */
export interface PresenceService {
  name: string;
  kind: string;
  models: string[];
  maxConcurrent?: number;
}

/** A node's presence row. */
export interface NodePresence {
  name: string;
  /** The instance that holds its session. */
  instance: string;
  /** When its session was established (ISO 8601). */
  connectedAt: string;
  /** The last time the instance heard from it: login, advert or an answered heartbeat. */
  lastSeenAt: string;
  /** The address its control connection comes from. */
  address: string;
  /** What its hello said; null for a client that says nothing. */
  clientVersion: string | null;
  services: PresenceService[];
}

/** An instance's lease: its nodes count as online only while it is renewed. */
export interface InstanceLease {
  /** A random id, new at every start. */
  instance: string;
  pid: number;
  host: string;
  startedAt: string;
  /** Renewed every `leaseIntervalMs`. */
  updatedAt: string;
  leaseIntervalMs: number;
  /** Set when the instance stopped cleanly: its nodes are offline at once. */
  stoppedAt?: string;
}

/** Everything a presence store holds. */
export interface PresenceSnapshot {
  leases: InstanceLease[];
  nodes: NodePresence[];
}

/** A lease expires after this many intervals without renewal. */
export const LEASE_EXPIRY_INTERVALS = 3;

/** Where one instance writes its presence. Writes are coalesced; none of these calls waits for the disk. */
export interface PresenceStore {
  /** This instance's id. */
  readonly instance: string;
  /**
   * A node connected or changed its adverts; `adverts` are its services as it advertised them
   * (credentials' hashes included): a shared store keeps them for the other instances, a file does not.
   */
  put(node: NodePresence, adverts?: readonly ServiceAdvert[]): void;
  /** A node was heard from: kept in memory and written with the next write (the lease's renewal at the latest). */
  seen(name: string, at: Date): void;
  /** A node left. */
  remove(name: string): void;
  /** What this instance holds now (a copy). */
  current(): PresenceSnapshot;
  /** Writes what is pending now. */
  flush(): Promise<void>;
  /** Stops renewing and writes that the instance stopped (its nodes offline). Idempotent. */
  close(): Promise<void>;
}

/** True when `lease` is renewed and its instance runs; `isRunning` checks the pid (on the same host). */
export function leaseIsLive(lease: InstanceLease, nowMs: number, isRunning: (lease: InstanceLease) => boolean): boolean {
  if (lease.stoppedAt !== undefined) return false;
  const age = nowMs - Date.parse(lease.updatedAt);
  return age <= LEASE_EXPIRY_INTERVALS * lease.leaseIntervalMs && isRunning(lease);
}
