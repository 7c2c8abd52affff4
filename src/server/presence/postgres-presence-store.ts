/**
 * Presence on PostgreSQL, for several super node instances (docs/storage.md#presence-on-postgresql).
 * One lease row per instance in `proxima_instances`, renewed every `leaseIntervalMs` and live for
 * `leaseExpiryMs`; one row per node in `proxima_presence`, written when it connects, changes its
 * adverts or leaves, never on a heartbeat (`seen` stays in memory). Writes are batched: the changes
 * of one turn of the event loop go in one transaction, one at a time, each row write NOTIFYing
 * `{kind: 'presence', node, instance}` on commit. The renewal also removes every expired lease (a
 * killed instance's), whose nodes' rows go with it by cascade. A clean stop removes this lease.
 *
 * A row another instance holds with a newer login is not overwritten: the node logged in there
 * since, and this instance says `superseded` (its session there is to be closed as replaced).
 */
import { EventEmitter } from 'node:events';
import os from 'node:os';
import type pg from 'pg';
import { type Logger, silentLogger } from '../../log.js';
import type { ServiceAdvert } from '../../proto/control/messages.js';
import type { PgNotifier } from '../storage/postgres/notifier.js';
import type { PostgresStore } from '../storage/postgres/postgres-pool.js';
import { capacityOf, SQL_DROP_LEASE, SQL_OPEN_LEASE, SQL_PUT_NODES, SQL_REMOVE_NODES, SQL_RENEW_LEASE } from './presence-sql.js';
import type { NodePresence, PresenceSnapshot, PresenceStore } from './presence-store.js';

/** Above this many rows in one write, one notice says "reload this instance" instead of one a node. */
export const MAX_NOTICES_PER_WRITE = 32;

/** How the store is opened. */
export interface PostgresPresenceOptions {
  store: PostgresStore;
  notifier: Pick<PgNotifier, 'notify'>;
  /** This instance's id (the shared store's). */
  instance: string;
  /** Where other instances reach this one (cluster.advertise), or null. */
  peer: string | null;
  leaseIntervalMs: number;
  leaseExpiryMs: number;
  logger?: Logger;
  now?: () => number;
}

interface Held {
  presence: NodePresence;
  adverts: readonly ServiceAdvert[];
}

/** What the store tells its owner. */
export interface PostgresPresenceEvents {
  /** The node logged in at another instance since its login here at `connectedAt`: that session is stale. */
  superseded: [name: string, connectedAt: Date];
  /** A write or renewal failed (it is retried); for logs and tests. */
  failed: [err: Error];
}

/** Presence in PostgreSQL. Create it with {@link PostgresPresenceStore.open}. */
export class PostgresPresenceStore extends EventEmitter<PostgresPresenceEvents> implements PresenceStore {
  readonly instance: string;
  readonly #o: PostgresPresenceOptions;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #held = new Map<string, Held>();
  /** Names whose row is to be written (held) or removed (not held). */
  #dirty = new Set<string>();
  readonly #startedAt: string;
  #renewedAt: string;
  #renewal: NodeJS.Timeout | undefined;
  #scheduled = false;
  #writing: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  #rowWrites = 0;

  private constructor(o: PostgresPresenceOptions) {
    super();
    this.#o = o;
    this.instance = o.instance;
    this.#now = o.now ?? Date.now;
    this.#logger = (o.logger ?? silentLogger).child({ component: 'presence' });
    this.#startedAt = new Date(this.#now()).toISOString();
    this.#renewedAt = this.#startedAt;
  }

  /** Writes this instance's lease (PRX_ERR_STORE_UNAVAILABLE when it cannot) and starts renewing it. */
  static async open(options: PostgresPresenceOptions): Promise<PostgresPresenceStore> {
    const store = new PostgresPresenceStore(options);
    await store.#openLease();
    store.#renewal = setInterval(() => void store.#renew(), options.leaseIntervalMs).unref();
    return store;
  }

  /** Transactions that wrote nodes' rows since open (lease renewals not counted; tests, the bench). */
  get rowWrites(): number {
    return this.#rowWrites;
  }

  put(node: NodePresence, adverts: readonly ServiceAdvert[] = []): void {
    if (this.#closing !== undefined) return;
    this.#held.set(node.name, { presence: structuredClone(node), adverts: structuredClone(adverts) });
    this.#mark(node.name);
  }

  seen(name: string, at: Date): void {
    const held = this.#held.get(name);
    if (held !== undefined) held.presence.lastSeenAt = at.toISOString();
  }

  remove(name: string): void {
    if (this.#closing !== undefined) return;
    if (this.#held.delete(name)) this.#mark(name);
  }

  current(): PresenceSnapshot {
    const lease = {
      instance: this.instance,
      pid: process.pid,
      host: os.hostname(),
      startedAt: this.#startedAt,
      updatedAt: this.#renewedAt,
      leaseIntervalMs: this.#o.leaseIntervalMs,
    };
    return { leases: [lease], nodes: [...this.#held.values()].map((h) => structuredClone(h.presence)) };
  }

  /** Writes what is pending now (rejects when that fails; it stays pending). */
  async flush(): Promise<void> {
    await this.#writing;
    if (this.#dirty.size > 0) await this.#write();
  }

  /** Stops renewing, then removes the lease and with it every row of this instance's nodes. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearInterval(this.#renewal);
      await this.#writing?.catch(() => undefined);
      this.#held.clear();
      this.#dirty.clear();
      await this.#transaction(async (client) => {
        await client.query(SQL_DROP_LEASE, [this.instance]);
        await this.#o.notifier.notify({ kind: 'presence', instance: this.instance, gone: true }, client);
      }).catch((err: unknown) => this.#logger.warn('cannot remove the instance lease; it expires by itself', { err }));
    })();
    return this.#closing;
  }

  #mark(name: string): void {
    this.#dirty.add(name);
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      if (this.#writing === undefined && !this.#retryLater) void this.#write().catch(() => undefined);
    });
  }

  /** One write at a time; what changed meanwhile is written right after. Failures stay dirty. */
  #write(): Promise<void> {
    const run = (async () => {
      const names = [...this.#dirty];
      this.#dirty = new Set();
      try {
        await this.#writeRows(names);
      } catch (err) {
        for (const name of names) this.#dirty.add(name);
        this.#retryLater = true;
        this.#failed('cannot write presence; it is retried at the next lease renewal', err);
        throw err;
      }
    })();
    // Its failure is the caller's (flush) to see; the chain itself never rejects.
    this.#writing = run
      .catch(() => undefined)
      .finally(() => {
        this.#writing = undefined;
        if (this.#dirty.size > 0 && this.#closing === undefined && !this.#retryLater) void this.#write().catch(() => undefined);
      });
    return run;
  }

  async #writeRows(names: string[]): Promise<void> {
    const puts = names.map((n) => [n, this.#held.get(n)] as const).filter((e): e is [string, Held] => e[1] !== undefined);
    const removes = names.filter((n) => !this.#held.has(n));
    const superseded: [string, Date][] = [];
    const byName = new Map(puts);
    await this.#transaction(async (client) => {
      const touched: string[] = [];
      if (puts.length > 0) {
        const { rows } = await client.query<{ node: string; written: boolean; registered: boolean }>(SQL_PUT_NODES, [
          this.instance,
          ...putColumns(
            this.instance,
            puts.map((p) => p[1]),
          ),
        ]);
        for (const row of rows) {
          if (row.written) touched.push(row.node);
          else if (row.registered) superseded.push([row.node, new Date(byName.get(row.node)!.presence.connectedAt)]);
          else this.#logger.debug('presence not written: the node is not in the registry', { node: row.node });
        }
      }
      if (removes.length > 0) {
        const { rows } = await client.query<{ node: string }>(SQL_REMOVE_NODES, [this.instance, removes]);
        touched.push(...rows.map((r) => r.node));
      }
      if (touched.length > MAX_NOTICES_PER_WRITE) await this.#o.notifier.notify({ kind: 'presence', instance: this.instance }, client);
      else for (const node of touched) await this.#o.notifier.notify({ kind: 'presence', node, instance: this.instance }, client);
    });
    this.#rowWrites += 1;
    for (const [name, connectedAt] of superseded) {
      this.#logger.info('presence: the node logged in at another instance since', { node: name });
      this.emit('superseded', name, connectedAt);
    }
  }

  /** Set when PostgreSQL failed: nothing is tried again before the next renewal. */
  #retryLater = false;
  #renewFailedAt: number | undefined;

  async #renew(): Promise<void> {
    if (this.#closing !== undefined) return;
    try {
      const { rows } = await this.#query<{ renewed: number; dead: string[] }>(SQL_RENEW_LEASE, [this.instance, this.#o.leaseExpiryMs]);
      const { renewed, dead } = rows[0]!;
      if (this.#renewFailedAt !== undefined) this.#logger.info('presence: the lease is renewed again');
      this.#renewFailedAt = undefined;
      this.#retryLater = false;
      this.#renewedAt = new Date(this.#now()).toISOString();
      for (const id of dead) {
        this.#logger.info('presence: an instance let its lease expire; its nodes are offline', { instance: id });
        await this.#o.notifier.notify({ kind: 'presence', instance: id, gone: true });
      }
      if (renewed === 0) {
        // Taken for dead (a long pause, PostgreSQL unreachable past the expiry): every row is gone.
        this.#logger.warn('presence: this instance lease had expired; writing it and its nodes again');
        await this.#openLease();
        for (const name of this.#held.keys()) this.#dirty.add(name);
      }
      if (this.#dirty.size > 0 && this.#writing === undefined) await this.#write();
    } catch (err) {
      this.#renewFailedAt ??= this.#now();
      this.#failed('cannot renew the instance lease', err);
    }
  }

  async #openLease(): Promise<void> {
    await this.#query(SQL_OPEN_LEASE, [this.instance, this.#o.peer, this.#o.leaseExpiryMs]);
  }

  async #query<R extends pg.QueryResultRow>(sql: string, values: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      return await this.#o.store.pool.query<R>(sql, values);
    } catch (err) {
      throw this.#o.store.failure('presence', err);
    }
  }

  async #transaction(work: (client: pg.PoolClient) => Promise<void>): Promise<void> {
    let client: pg.PoolClient;
    try {
      client = await this.#o.store.pool.connect();
    } catch (err) {
      throw this.#o.store.failure('presence', err);
    }
    // A connection lost mid-transaction says so on the client too: the failed query reports it.
    const ignore = (): void => undefined;
    client.on('error', ignore);
    try {
      await client.query('BEGIN');
      await work(client);
      await client.query('COMMIT');
      client.off('error', ignore);
      client.release();
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      client.off('error', ignore);
      client.release(true);
      throw this.#o.store.failure('presence', err);
    }
  }

  #failed(what: string, err: unknown): void {
    this.#logger.warn(what, { err });
    if (this.listenerCount('failed') > 0) this.emit('failed', err as Error);
  }
}

/** The array parameters of SQL_PUT_NODES ($2..$9). */
function putColumns(instance: string, held: Held[]): unknown[][] {
  return [
    held.map((h) => h.presence.name),
    held.map((h) => `${instance}/${Date.parse(h.presence.connectedAt)}`),
    held.map((h) => h.presence.connectedAt),
    held.map((h) => JSON.stringify(h.adverts)),
    held.map((h) => JSON.stringify([...new Set(h.presence.services.flatMap((s) => s.models))].sort())),
    held.map((h) => capacityOf(h.adverts)),
    held.map((h) => h.presence.address),
    held.map((h) => h.presence.clientVersion),
  ];
}
