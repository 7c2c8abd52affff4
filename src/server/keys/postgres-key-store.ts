/**
 * The API key store in PostgreSQL (`proxima_api_keys`), shared by every instance of one network. Each
 * change is one transaction that also sends a change notice (kind `keys`); every instance then reads
 * the keys again (they are few) and reports them as a `change` event, so a key added or revoked at
 * one instance works or stops at every instance as soon as the notice arrives. After a lost notice
 * connection the notifier says `resync`, which reads them again too.
 */
import { EventEmitter } from 'node:events';
import type pg from 'pg';
import { ErrorCodes, ProximaError } from '../../errors.js';
import { type Logger, silentLogger } from '../../log.js';
import type { ChangeMessage } from '../storage/postgres/notifier.js';
import type { SharedStore } from '../storage/postgres/shared-store.js';
import { inOrder, inTransaction } from '../storage/postgres/transaction.js';
import { isStoredKeyId, type KeyPatch, type KeyRecord } from './key-record.js';
import type { KeyStoreEvents, LiveKeyStore } from './key-store.js';

export interface PostgresKeyStoreOptions {
  shared: SharedStore;
  logger?: Logger;
}

interface KeyRow {
  id: string;
  name: string;
  sha256: string;
  record: KeyRecord;
}

/** PostgreSQL's unique_violation: a working key of that name (or that digest) exists. */
const UNIQUE_VIOLATION = '23505';

/** jsonb keeps no key order: the fields in the order keys.json has them, then any others. */
const FIELD_ORDER = ['id', 'name', 'sha256', 'requestsPerMinute', 'tokensPerMinute', 'budget', 'models', 'nodes', 'createdAt', 'revokedAt'];

function recordOf(row: KeyRow): KeyRecord {
  const record = { ...row.record, id: row.id, name: row.name, sha256: row.sha256 };
  if (record.budget !== null && typeof record.budget === 'object')
    record.budget = { credits: record.budget.credits, per: record.budget.per };
  return inOrder(FIELD_ORDER, record);
}

/** The PostgreSQL {@link LiveKeyStore}. Create it with {@link PostgresKeyStore.open}. */
export class PostgresKeyStore extends EventEmitter<KeyStoreEvents> implements LiveKeyStore {
  readonly #shared: SharedStore;
  readonly #logger: Logger;
  #keys: KeyRecord[] = [];
  #reloads: Promise<unknown> = Promise.resolve();
  #closed = false;
  readonly #onChange = (msg: ChangeMessage): void => {
    if (msg.kind === 'keys') this.#reload().catch((err: unknown) => this.#logger.warn('keys: reloading changes failed', { err }));
  };
  readonly #onResync = (): void => this.#onChange({ kind: 'keys', from: this.#shared.instance });

  private constructor(options: PostgresKeyStoreOptions) {
    super();
    this.#shared = options.shared;
    this.#logger = options.logger ?? silentLogger;
  }

  /** Reads the keys and follows their changes; PRX_ERR_STORE_UNAVAILABLE when PostgreSQL does not answer. */
  static async open(options: PostgresKeyStoreOptions): Promise<PostgresKeyStore> {
    const store = new PostgresKeyStore(options);
    store.#keys = await store.#select(store.#shared.store.pool);
    options.shared.notifier.on('change', store.#onChange);
    options.shared.notifier.on('resync', store.#onResync);
    return store;
  }

  /** The records as last read, without a query (for the request path). */
  get current(): readonly KeyRecord[] {
    return this.#keys;
  }

  /** Read from PostgreSQL; the last read records when it does not answer. */
  async list(): Promise<KeyRecord[]> {
    if (this.#closed) return structuredClone(this.#keys);
    try {
      await this.#reload();
    } catch (err) {
      this.#logger.debug('keys: PostgreSQL did not answer; the last read keys are listed', { err });
    }
    return structuredClone(this.#keys);
  }

  add(record: KeyRecord): Promise<KeyRecord> {
    const fresh = structuredClone(record);
    return this.#write('cannot add an API key', async (client) => {
      const taken = await client.query('SELECT 1 FROM proxima_api_keys WHERE id = $1', [fresh.id]);
      if (taken.rowCount !== 0) throw new ProximaError(ErrorCodes.NAME_TAKEN, `an API key with id ${fresh.id} already exists`);
      await this.#put(client, fresh, `an API key named "${fresh.name}" already exists`, true);
      return fresh;
    });
  }

  update(ref: string, patch: KeyPatch): Promise<KeyRecord> {
    const changes = structuredClone(patch);
    return this.#write('cannot change an API key', async (client) => {
      const next = { ...(await this.#find(client, ref)), ...changes };
      await this.#put(client, next, `an API key named "${next.name}" already exists`, false);
      return next;
    });
  }

  revoke(ref: string, at: Date): Promise<KeyRecord> {
    return this.#write('cannot revoke an API key', async (client) => {
      const old = await this.#find(client, ref);
      const next = { ...old, revokedAt: old.revokedAt ?? at.toISOString() };
      await this.#put(client, next, '', false);
      return next;
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#shared.notifier.off('change', this.#onChange);
    this.#shared.notifier.off('resync', this.#onResync);
    await this.#reloads.catch(() => undefined);
  }

  /** The key `ref` names (an id, revoked keys too, else the working key of that name), locked for the transaction. */
  async #find(client: pg.ClientBase, ref: string): Promise<KeyRecord> {
    const { rows } = isStoredKeyId(ref)
      ? await client.query<KeyRow>('SELECT id, name, sha256, record FROM proxima_api_keys WHERE id = $1 FOR UPDATE', [ref])
      : await client.query<KeyRow>(
          'SELECT id, name, sha256, record FROM proxima_api_keys WHERE name = $1 AND revoked_at IS NULL FOR UPDATE',
          [ref],
        );
    if (rows[0] === undefined) throw new ProximaError(ErrorCodes.KEY_NOT_FOUND, `no API key named or with id "${ref.slice(0, 80)}"`);
    return recordOf(rows[0]);
  }

  /** Inserts or replaces `record`; a name a working key has is PRX_ERR_NAME_TAKEN (`taken`). */
  async #put(client: pg.ClientBase, record: KeyRecord, taken: string, insert: boolean): Promise<void> {
    const values = [record.id, record.name, record.sha256, record.createdAt, record.revokedAt, record];
    const sql = insert
      ? 'INSERT INTO proxima_api_keys (id, name, sha256, created_at, revoked_at, record) VALUES ($1, $2, $3, $4, $5, $6)'
      : 'UPDATE proxima_api_keys SET name = $2, sha256 = $3, created_at = $4, revoked_at = $5, record = $6 WHERE id = $1';
    try {
      await client.query(sql, values);
    } catch (err) {
      if ((err as { code?: unknown }).code === UNIQUE_VIOLATION) throw new ProximaError(ErrorCodes.NAME_TAKEN, taken);
      throw err;
    }
    await this.#shared.notifier.notify({ kind: 'keys', id: record.id }, client);
  }

  /** One change: the transaction, then the keys read again, so `current` has it when this resolves. */
  async #write(what: string, fn: (client: pg.PoolClient) => Promise<KeyRecord>): Promise<KeyRecord> {
    if (this.#closed) throw new ProximaError(ErrorCodes.SERVER_DRAINING, 'the key store is closed');
    const record = await inTransaction(this.#shared.store, what, fn);
    await this.#reload().catch((err: unknown) => this.#logger.warn('keys: reading the keys after a change failed', { err }));
    return structuredClone(record);
  }

  /** Reads every key (one at a time, so an older answer never overwrites a newer one) and reports a change. */
  #reload(): Promise<void> {
    const run = async (): Promise<void> => {
      const keys = await this.#select(this.#shared.store.pool);
      if (JSON.stringify(keys) === JSON.stringify(this.#keys)) return;
      this.#keys = keys;
      if (!this.#closed) this.emit('change', structuredClone(keys));
    };
    const next = this.#reloads.then(run, run);
    this.#reloads = next.catch(() => undefined);
    return next;
  }

  async #select(on: pg.Pool): Promise<KeyRecord[]> {
    try {
      const { rows } = await on.query<KeyRow>('SELECT id, name, sha256, record FROM proxima_api_keys ORDER BY created_at, id');
      return rows.map(recordOf);
    } catch (err) {
      throw this.#shared.store.failure('cannot read the API keys', err);
    }
  }
}
