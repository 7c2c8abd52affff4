/**
 * The node store in PostgreSQL (`proxima_nodes`), shared by every instance of one network. Each
 * mutation is one transaction that also sends a change notice (kind `nodes`), so every instance hears
 * of an added, revoked or rotated node when it commits and reports it as a `change` event: a
 * revocation anywhere closes the node's live session wherever it is (NodeSessions listens). After a
 * lost notice connection the notifier says `resync` and the whole table is compared again.
 * Last-seen times are coalesced: one UPDATE for every node touched, at most every touchFlushMs.
 */
import { EventEmitter } from 'node:events';
import { ErrorCodes, ProximaError } from '../../errors.js';
import { type Logger, silentLogger } from '../../log.js';
import type { ChangeMessage } from '../storage/postgres/notifier.js';
import type { SharedStore } from '../storage/postgres/shared-store.js';
import { inOrder, inTransaction } from '../storage/postgres/transaction.js';
import { PendingTouches } from './node-mutations.js';
import { diffNodes, isEmptyChange, type NodeRecord, type NodeRecordPatch, type NodeStore, type NodeStoreEvents } from './node-store.js';

export interface PostgresNodeStoreOptions {
  shared: SharedStore;
  logger?: Logger;
  /** How long after a touch its last-seen time is written, at the latest (default 10 s, as the file's). */
  touchFlushMs?: number;
}

interface NodeRow {
  name: string;
  key_id: string;
  last_seen_at: Date | null;
  services: string[];
  record: NodeRecord;
}

const COLUMNS = 'name, key_id, last_seen_at, services, record';

/** jsonb keeps no key order: the fields in the order nodes.json has them, then any others. */
const FIELD_ORDER = ['name', 'keyId', 'createdAt', 'lastSeenAt', 'services'];

/** A row as the record it stores; the columns win over the copy in `record`. */
function recordOf(row: NodeRow): NodeRecord {
  return inOrder(FIELD_ORDER, {
    ...row.record,
    name: row.name,
    keyId: row.key_id,
    lastSeenAt: row.last_seen_at === null ? null : row.last_seen_at.toISOString(),
    services: row.services,
  });
}

/** The names a notice concerns, or undefined for "all". */
function namesOf(msg: ChangeMessage): string[] | undefined {
  const names = msg.names;
  return Array.isArray(names) && names.every((n) => typeof n === 'string') ? names : undefined;
}

/** The PostgreSQL {@link NodeStore}. Create it with {@link PostgresNodeStore.open}. */
export class PostgresNodeStore extends EventEmitter<NodeStoreEvents> implements NodeStore {
  readonly #shared: SharedStore;
  readonly #logger: Logger;
  /** The view changes are reported against: what this instance last knew of each node. */
  #known = new Map<string, NodeRecord>();
  /** Own writes: in flight per name, and the sequence number of the last one done per name. */
  #writing = new Map<string, number>();
  #lastWrite = new Map<string, number>();
  #writeSeq = 0;
  /** Reloads run one at a time, so an older answer never overwrites a newer one. */
  #reloads: Promise<unknown> = Promise.resolve();
  readonly #touches: PendingTouches;
  #touchWrite: Promise<void> = Promise.resolve();
  #stopping: Promise<void> | undefined;
  readonly #onChange = (msg: ChangeMessage): void => {
    if (msg.kind === 'nodes') this.#reload(namesOf(msg));
  };
  readonly #onResync = (): void => this.#reload(undefined);

  private constructor(options: PostgresNodeStoreOptions) {
    super();
    this.#shared = options.shared;
    this.#logger = options.logger ?? silentLogger;
    this.#touches = new PendingTouches(options.touchFlushMs ?? 10_000, () =>
      this.flush().catch((err: unknown) => this.#logger.warn('registry: last-seen times were not written', { err })),
    );
  }

  /** Loads every node and starts following changes; PRX_ERR_STORE_UNAVAILABLE when PostgreSQL does not answer. */
  static async open(options: PostgresNodeStoreOptions): Promise<PostgresNodeStore> {
    const store = new PostgresNodeStore(options);
    for (const record of await store.#select(undefined)) store.#known.set(record.name, record);
    options.shared.notifier.on('change', store.#onChange);
    options.shared.notifier.on('resync', store.#onResync);
    return store;
  }

  /** Read from PostgreSQL (a node added a moment ago elsewhere is found); the last known record when it is down. */
  async get(name: string): Promise<NodeRecord | undefined> {
    try {
      return (await this.#select([name]))[0];
    } catch (err) {
      this.#logger.debug('registry: PostgreSQL did not answer; the last known record is used', { err });
      const record = this.#known.get(name);
      return record === undefined ? undefined : structuredClone(record);
    }
  }

  /** Read from PostgreSQL by its index; the last known records when it is down. */
  async byKeyId(keyId: string): Promise<NodeRecord | undefined> {
    const store = this.#shared.store;
    try {
      const { rows } = await store.pool.query<NodeRow>(`SELECT ${COLUMNS} FROM proxima_nodes WHERE key_id = $1`, [keyId]);
      return rows[0] === undefined ? undefined : recordOf(rows[0]);
    } catch (err) {
      this.#logger.debug('registry: PostgreSQL did not answer; the last known records are searched', { err });
      for (const record of this.#known.values()) if (record.keyId === keyId) return structuredClone(record);
      return undefined;
    }
  }

  async list(): Promise<NodeRecord[]> {
    try {
      return await this.#select(undefined);
    } catch (err) {
      this.#logger.debug('registry: PostgreSQL did not answer; the last known records are listed', { err });
      return [...this.#known.keys()].sort().map((name) => structuredClone(this.#known.get(name)!));
    }
  }

  add(record: NodeRecord): Promise<NodeRecord> {
    const fresh = structuredClone(record);
    return this.#write(fresh.name, 'cannot add a node', async (client) => {
      const inserted = await client.query(
        `INSERT INTO proxima_nodes (${COLUMNS}, created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING`,
        [fresh.name, fresh.keyId, fresh.lastSeenAt, fresh.services, fresh, fresh.createdAt],
      );
      if (inserted.rowCount !== 1) throw new ProximaError(ErrorCodes.NAME_TAKEN, `a node named "${fresh.name}" already exists`);
      await this.#shared.notifier.notify({ kind: 'nodes', op: 'added', names: [fresh.name] }, client);
      return fresh;
    });
  }

  update(name: string, patch: NodeRecordPatch): Promise<NodeRecord> {
    const changes = structuredClone(patch);
    return this.#write(name, 'cannot update a node', async (client) => {
      const { rows } = await client.query<NodeRow>(`SELECT ${COLUMNS} FROM proxima_nodes WHERE name = $1 FOR UPDATE`, [name]);
      if (rows[0] === undefined) throw new ProximaError(ErrorCodes.NODE_NOT_FOUND, `no node named "${name}"`);
      const old = recordOf(rows[0]);
      const next: NodeRecord = { ...old, ...changes, name };
      await client.query('UPDATE proxima_nodes SET key_id = $2, last_seen_at = $3, services = $4, record = $5 WHERE name = $1', [
        name,
        next.keyId,
        next.lastSeenAt,
        next.services,
        next,
      ]);
      // Only a new key matters to other instances (it closes the session); models and the like do not.
      if (next.keyId !== old.keyId) await this.#shared.notifier.notify({ kind: 'nodes', op: 'rotated', names: [name] }, client);
      return next;
    });
  }

  remove(name: string): Promise<NodeRecord> {
    return this.#write(
      name,
      'cannot remove a node',
      async (client) => {
        const { rows } = await client.query<NodeRow>(`DELETE FROM proxima_nodes WHERE name = $1 RETURNING ${COLUMNS}`, [name]);
        if (rows[0] === undefined) throw new ProximaError(ErrorCodes.NODE_NOT_FOUND, `no node named "${name}"`);
        await this.#shared.notifier.notify({ kind: 'nodes', op: 'removed', names: [name] }, client);
        return recordOf(rows[0]);
      },
      true,
    );
  }

  touch(name: string, seenAt: Date, services?: string[]): void {
    if (this.#stopping !== undefined) return;
    this.#touches.add(name, seenAt, services);
  }

  /** Writes pending last-seen times: one UPDATE for all of them. */
  flush(): Promise<void> {
    const touches = [...this.#touches.take()].map(([name, t]) => ({ name, seen: t.lastSeenAt, services: t.services ?? null }));
    const write = async (): Promise<void> => {
      if (touches.length === 0) return;
      const store = this.#shared.store;
      await store.pool
        .query(
          `UPDATE proxima_nodes n SET last_seen_at = t.seen, services = COALESCE(t.services, n.services)
           FROM jsonb_to_recordset($1::jsonb) AS t(name text, seen timestamptz, services text[]) WHERE n.name = t.name`,
          [JSON.stringify(touches)],
        )
        .catch((err: unknown) => {
          throw store.failure('cannot write last-seen times', err);
        });
    };
    this.#touchWrite = this.#touchWrite.then(write, write);
    return this.#touchWrite;
  }

  close(): Promise<void> {
    return (this.#stopping ??= (async () => {
      this.#detach();
      await this.flush().catch((err: unknown) => this.#logger.warn('registry: last-seen times were not written', { err }));
      await this.#reloads;
    })());
  }

  destroy(_err?: Error): Promise<void> {
    return (this.#stopping ??= (async () => {
      this.#detach();
      this.#touches.take();
      await this.#reloads;
    })());
  }

  /** The records of `names` (all when undefined), sorted by name. */
  async #select(names: readonly string[] | undefined): Promise<NodeRecord[]> {
    const store = this.#shared.store;
    try {
      const { rows } =
        names === undefined
          ? await store.pool.query<NodeRow>(`SELECT ${COLUMNS} FROM proxima_nodes ORDER BY name`)
          : await store.pool.query<NodeRow>(`SELECT ${COLUMNS} FROM proxima_nodes WHERE name = ANY($1::text[]) ORDER BY name`, [names]);
      return rows.map(recordOf);
    } catch (err) {
      throw store.failure('cannot read the registry', err);
    }
  }

  /** One own mutation of `name`: the transaction, then this instance's view and its `change` at once. */
  async #write(name: string, what: string, fn: Parameters<typeof inTransaction<NodeRecord>>[2], removes = false): Promise<NodeRecord> {
    if (this.#stopping !== undefined) throw new ProximaError(ErrorCodes.SERVER_DRAINING, 'the node store is closed');
    this.#writing.set(name, (this.#writing.get(name) ?? 0) + 1);
    let done = false;
    try {
      const record = await inTransaction(this.#shared.store, what, fn);
      this.#apply(new Map([[name, removes ? undefined : record]]));
      done = true;
      return structuredClone(record);
    } finally {
      const left = this.#writing.get(name)! - 1;
      if (left === 0) this.#writing.delete(name);
      else this.#writing.set(name, left);
      this.#lastWrite.set(name, ++this.#writeSeq);
      // A failed write changed nothing, but a notice about `name` that came meanwhile was set aside.
      if (!done) this.#reload([name]);
    }
  }

  /** Reloads `names` (all when undefined) after a notice; failures wait for the next notice or resync. */
  #reload(names: string[] | undefined): void {
    if (this.#stopping !== undefined) return;
    const run = async (): Promise<void> => {
      const since = this.#writeSeq;
      const rows = new Map((await this.#select(names)).map((r) => [r.name, r] as const));
      const scope = names ?? [...new Set([...this.#known.keys(), ...rows.keys()])];
      // A name this instance is writing, or wrote after the read began, already has its newer view.
      const fresh = scope.filter((n) => !this.#writing.has(n) && (this.#lastWrite.get(n) ?? 0) <= since);
      this.#apply(new Map(fresh.map((n) => [n, rows.get(n)] as const)));
    };
    this.#reloads = this.#reloads.then(run).catch((err: unknown) => this.#logger.warn('registry: reloading changes failed', { err }));
  }

  /** Sets this instance's view of the given names (undefined: gone) and reports what changed. */
  #apply(next: ReadonlyMap<string, NodeRecord | undefined>): void {
    const before = new Map<string, NodeRecord>();
    const after = new Map<string, NodeRecord>();
    for (const [name, record] of next) {
      const old = this.#known.get(name);
      if (old !== undefined) before.set(name, old);
      if (record !== undefined) {
        after.set(name, record);
        this.#known.set(name, record);
      } else this.#known.delete(name);
    }
    const change = diffNodes(before, after);
    if (!isEmptyChange(change) && this.#stopping === undefined) this.emit('change', change);
  }

  #detach(): void {
    this.#shared.notifier.off('change', this.#onChange);
    this.#shared.notifier.off('resync', this.#onResync);
  }
}
