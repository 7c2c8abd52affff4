/**
 * The nodes other live instances hold, followed from PostgreSQL: a full read at open and on every
 * `resync` of the notifier, one row read per `{kind: 'presence', node}` notice (a burst for one node
 * is one read; the names noticed while a read runs are read together next), and a lease timer that
 * reads the leases every `leaseIntervalMs`, and again right when the earliest known one would expire,
 * so a killed instance's nodes are removed once its lease has expired. At most one query in flight.
 * Nodes held by this instance never appear here.
 */
import { EventEmitter } from 'node:events';
import { type Logger, silentLogger } from '../../log.js';
import type { ServiceAdvert } from '../../proto/control/messages.js';
import type { ChangeMessage, PgNotifier } from '../storage/postgres/notifier.js';
import type { PostgresStore } from '../storage/postgres/postgres-pool.js';
import { type PresenceRow, SQL_LEASES, SQL_NODE_ROWS, SQL_REMOTE_ROWS } from './presence-sql.js';
import type { NodePresence } from './presence-store.js';

/** A node another instance holds. */
export interface RemoteNode {
  name: string;
  instance: string;
  /** host:port of that instance's cluster.advertise ('' when it advertises none). */
  peer: string;
  connectedAt: string;
  /** As the node advertised them: models, maxConcurrent, expose and auth hashes included. */
  services: ServiceAdvert[];
}

export interface RemotePresenceEvents {
  /** A node is now held by another live instance (new, or its adverts changed). */
  put: [node: RemoteNode];
  /** It left, or its instance's lease expired. */
  remove: [name: string, instance: string];
}

/** The feed h4's directory merges with the local nodes. */
export interface RemotePresence extends Pick<EventEmitter<RemotePresenceEvents>, 'on' | 'off' | 'once'> {
  get(name: string): RemoteNode | undefined;
  nodes(): RemoteNode[];
  close(): Promise<void>;
}

export interface RemotePresenceOptions {
  store: PostgresStore;
  notifier: Pick<PgNotifier, 'on' | 'off'>;
  /** This instance's id: its own rows are left out. */
  instance: string;
  leaseIntervalMs: number;
  logger?: Logger;
}

/** The lease timer never waits less than this (a lease at its expiry is read again a little after). */
const MIN_CHECK_MS = 20;

interface Known extends RemoteNode {
  session: string;
  address: string;
  clientVersion: string | null;
}

/** RemotePresence on PostgreSQL. Create it with {@link PgRemotePresence.open}. */
export class PgRemotePresence extends EventEmitter<RemotePresenceEvents> implements RemotePresence {
  /** This instance's id (whose nodes are never here). */
  readonly instance: string;
  readonly #o: RemotePresenceOptions;
  readonly #logger: Logger;
  readonly #nodes = new Map<string, Known>();
  /**
   * Instances whose nodes were dropped on a lease seen expired while its row was still there: one
   * that renews it late (a long pause) is not taken for dead by anyone and writes nothing again, so
   * its nodes are read again here when its lease is seen live.
   */
  readonly #lapsed = new Set<string>();
  #pending = new Set<string>();
  #reload = false;
  #checkLeases = false;
  #running: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #queries = 0;

  readonly #onChange = (msg: ChangeMessage): void => {
    if (msg.kind !== 'presence') return;
    if (typeof msg.node === 'string') this.#pending.add(msg.node);
    else if (msg.gone === true && typeof msg.instance === 'string') this.#dropInstance(msg.instance);
    else this.#reload = true;
    this.#kick();
  };
  readonly #onResync = (): void => {
    this.#reload = true;
    this.#kick();
  };

  private constructor(o: RemotePresenceOptions) {
    super();
    this.#o = o;
    this.instance = o.instance;
    this.#logger = (o.logger ?? silentLogger).child({ component: 'presence' });
  }

  /** Subscribes, then reads every remote node (PRX_ERR_STORE_UNAVAILABLE when it cannot). */
  static async open(options: RemotePresenceOptions): Promise<PgRemotePresence> {
    const feed = new PgRemotePresence(options);
    options.notifier.on('change', feed.#onChange).on('resync', feed.#onResync);
    try {
      await feed.#fullReload();
      await feed.#leases();
    } catch (err) {
      options.notifier.off('change', feed.#onChange).off('resync', feed.#onResync);
      clearTimeout(feed.#timer);
      throw options.store.failure('cannot read presence', err);
    }
    return feed;
  }

  /** Queries run since open (tests). */
  get queries(): number {
    return this.#queries;
  }

  get(name: string): RemoteNode | undefined {
    const known = this.#nodes.get(name);
    return known === undefined ? undefined : publicOf(known);
  }

  nodes(): RemoteNode[] {
    return [...this.#nodes.values()].map(publicOf);
  }

  /** The remote nodes as presence rows (`GET /nodes`): last seen is when they connected, heartbeats not being written. */
  rows(): NodePresence[] {
    return [...this.#nodes.values()].map((n) => ({
      name: n.name,
      instance: n.instance,
      connectedAt: n.connectedAt,
      lastSeenAt: n.connectedAt,
      address: n.address,
      clientVersion: n.clientVersion,
      services: n.services.map((s) => ({
        name: s.name,
        kind: s.kind,
        models: (s.models ?? []).map((m) => m.name),
        ...(s.maxConcurrent === undefined ? {} : { maxConcurrent: s.maxConcurrent }),
      })),
    }));
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#o.notifier.off('change', this.#onChange).off('resync', this.#onResync);
    await this.#running;
  }

  /** Runs the pending work, one query at a time, until none is left. */
  #kick(): void {
    if (this.#running !== undefined || this.#closed) return;
    this.#running = (async () => {
      while (!this.#closed && (this.#reload || this.#pending.size > 0 || this.#checkLeases)) {
        try {
          if (this.#reload) {
            this.#reload = false;
            this.#pending.clear();
            await this.#fullReload();
          } else if (this.#pending.size > 0) {
            const names = [...this.#pending];
            this.#pending = new Set();
            await this.#read(names);
          } else {
            this.#checkLeases = false;
            await this.#leases();
          }
        } catch (err) {
          // Read everything again at the next lease check rather than retry at once.
          this.#reload = false;
          this.#pending.clear();
          this.#logger.warn('presence: cannot read the other instances; read again at the next lease check', {
            err: this.#o.store.failure('presence', err),
          });
          this.#schedule(this.#o.leaseIntervalMs, true);
          break;
        }
      }
    })().finally(() => {
      this.#running = undefined;
    });
  }

  async #fullReload(): Promise<void> {
    this.#queries += 1;
    const { rows } = await this.#o.store.pool.query<PresenceRow>(SQL_REMOTE_ROWS, [this.#o.instance]);
    const seen = new Set<string>();
    for (const row of rows) {
      seen.add(row.node);
      this.#apply(row);
    }
    for (const [name, known] of this.#nodes) if (!seen.has(name)) this.#drop(name, known);
  }

  async #read(names: string[]): Promise<void> {
    this.#queries += 1;
    const { rows } = await this.#o.store.pool.query<PresenceRow>(SQL_NODE_ROWS, [names]);
    const byName = new Map(rows.map((r) => [r.node, r]));
    for (const name of names) {
      const row = byName.get(name);
      if (row !== undefined && row.live === true && row.instance !== this.#o.instance) this.#apply(row);
      else {
        const known = this.#nodes.get(name);
        if (known !== undefined) this.#drop(name, known);
      }
    }
  }

  /** Reads the leases: the nodes of an expired or gone instance are removed; the next check is set. */
  async #leases(): Promise<void> {
    this.#queries += 1;
    const { rows } = await this.#o.store.pool.query<{ id: string; left_ms: number }>(SQL_LEASES);
    const left = new Map(rows.map((r) => [r.id, r.left_ms]));
    let next = this.#o.leaseIntervalMs;
    for (const id of this.#lapsed) {
      const ms = left.get(id);
      if (ms !== undefined && ms < 0) continue;
      this.#lapsed.delete(id);
      // Renewed late: its nodes are back. Gone: its rows went with its lease.
      if (ms !== undefined) this.#reload = true;
    }
    for (const [name, known] of this.#nodes) {
      const ms = left.get(known.instance);
      if (ms === undefined || ms < 0) {
        if (ms !== undefined) this.#lapsed.add(known.instance);
        this.#drop(name, known);
      } else next = Math.min(next, ms + MIN_CHECK_MS);
    }
    this.#schedule(Math.max(MIN_CHECK_MS, next), false);
  }

  #schedule(ms: number, reload: boolean): void {
    clearTimeout(this.#timer);
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      if (reload) this.#reload = true;
      this.#checkLeases = true;
      this.#kick();
    }, ms).unref();
  }

  #apply(row: PresenceRow): void {
    const services = Array.isArray(row.services) ? (row.services as ServiceAdvert[]) : [];
    const node: Known = {
      name: row.node,
      instance: row.instance,
      peer: row.peer ?? '',
      connectedAt: row.connected_at.toISOString(),
      services,
      session: row.session,
      address: row.address ?? '',
      clientVersion: row.client_version,
    };
    const before = this.#nodes.get(row.node);
    if (before !== undefined && sameNode(before, node)) return;
    this.#nodes.set(row.node, node);
    this.#emit('put', publicOf(node));
  }

  #drop(name: string, known: Known): void {
    this.#nodes.delete(name);
    this.#emit('remove', name, known.instance);
  }

  #dropInstance(instance: string): void {
    for (const [name, known] of this.#nodes) if (known.instance === instance) this.#drop(name, known);
  }

  #emit(...args: ['put', RemoteNode] | ['remove', string, string]): void {
    try {
      if (args[0] === 'put') this.emit('put', args[1]);
      else this.emit('remove', args[1], args[2]);
    } catch (err) {
      this.#logger.error('presence: a listener of the remote nodes failed', { err });
    }
  }
}

function sameNode(a: Known, b: Known): boolean {
  return (
    a.instance === b.instance && a.session === b.session && a.peer === b.peer && JSON.stringify(a.services) === JSON.stringify(b.services)
  );
}

function publicOf(known: Known): RemoteNode {
  return {
    name: known.name,
    instance: known.instance,
    peer: known.peer,
    connectedAt: known.connectedAt,
    services: structuredClone(known.services),
  };
}
