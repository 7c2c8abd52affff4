/**
 * Copies a single super node's data folder into PostgreSQL (`proxima-server store migrate`): the
 * registry secret first (refused when PostgreSQL already holds a different one: every node token
 * derives from it), then the nodes and API keys in one transaction, then the ledger, a batch at a
 * time, in the order written. Everything is inserted with ON CONFLICT DO NOTHING, so a second run
 * copies nothing new and counts what was already there.
 */
import { timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ErrorCodes, ProximaError } from '../../errors.js';
import { parseKeyFile } from '../keys/json-key-store.js';
import type { KeyRecord } from '../keys/key-record.js';
import { readLedger, type SkippedLine } from '../ledger/ledger-reader.js';
import { DEFAULT_MAX_BATCH_RECORDS } from '../ledger/ledger-writer.js';
import { insertLedgerRows, type LedgerRow, ledgerRow } from '../ledger/postgres-ledger-writer.js';
import { parseNodeFile } from '../registry/node-file.js';
import type { NodeRecord } from '../registry/node-store.js';
import { SECRET_BYTES, SECRET_FILE } from '../registry/secret.js';
import type { PostgresStore } from '../storage/postgres/postgres-pool.js';

/** The row of proxima_secrets holding the registry secret (as the shared registry reads it). */
export const REGISTRY_SECRET_NAME = 'registry';

/** What one part of the copy did. */
export interface Copied {
  copied: number;
  /** Already in PostgreSQL (a previous run, or written there since). */
  present: number;
}

/** What a run copied. */
export interface MigrateReport {
  secret: 'copied' | 'present' | 'none';
  nodes: Copied;
  keys: Copied;
  ledger: Copied;
}

/** Copies `dataDir` into the (migrated) store. PRX_ERR_STORE_CONFLICT when the secrets differ; nothing is copied then. */
export async function migrateDataDir(o: {
  dataDir: string;
  store: PostgresStore;
  onSkip?: (s: SkippedLine) => void;
}): Promise<MigrateReport> {
  const { dataDir, store } = o;
  const secret = await readOptional(path.join(dataDir, SECRET_FILE));
  const nodesText = await readOptional(path.join(dataDir, 'nodes.json'));
  const keysText = await readOptional(path.join(dataDir, 'keys.json'));
  if (secret !== undefined && secret.length !== SECRET_BYTES) {
    throw new ProximaError(
      ErrorCodes.STORE_CORRUPT,
      `${path.join(dataDir, SECRET_FILE)} has ${secret.length} bytes, expected ${SECRET_BYTES}`,
    );
  }
  const nodes =
    nodesText === undefined ? [] : [...parseNodeFile(nodesText.toString('utf8'), path.join(dataDir, 'nodes.json')).nodes.values()];
  const keys = keysText === undefined ? [] : parseKeyFile(keysText.toString('utf8'), path.join(dataDir, 'keys.json'));
  const client = await store.pool.connect().catch((err: unknown) => {
    throw store.failure('cannot connect to the store', err);
  });
  let report: Omit<MigrateReport, 'ledger'>;
  try {
    await client.query('BEGIN');
    const secretState = secret === undefined ? 'none' : await copySecret(client, secret);
    report = { secret: secretState, nodes: await copyNodes(client, nodes), keys: await copyKeys(client, keys) };
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw store.failure('cannot copy the data folder', err);
  } finally {
    client.release();
  }
  return { ...report, ledger: await copyLedger(store, dataDir, o.onSkip) };
}

async function readOptional(file: string): Promise<Buffer | undefined> {
  try {
    return await readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ProximaError(ErrorCodes.STORE_IO, `cannot read ${file}`, { cause: err });
  }
}

type Client = { query: PostgresStore['pool']['query'] };

async function copySecret(client: Client, secret: Buffer): Promise<'copied' | 'present'> {
  const inserted = await client.query('INSERT INTO proxima_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [
    REGISTRY_SECRET_NAME,
    secret,
  ]);
  if (inserted.rowCount === 1) return 'copied';
  const { rows } = await client.query<{ value: Buffer }>('SELECT value FROM proxima_secrets WHERE name = $1', [REGISTRY_SECRET_NAME]);
  const held = rows[0]?.value;
  if (held !== undefined && held.length === secret.length && timingSafeEqual(held, secret)) return 'present';
  throw new ProximaError(
    ErrorCodes.STORE_CONFLICT,
    'PostgreSQL already holds a different registry secret: the node tokens issued from this data folder would stop working there. ' +
      'Nothing was copied. Migrate into an empty database, or leave this data folder where it is.',
  );
}

async function copyNodes(client: Client, nodes: NodeRecord[]): Promise<Copied> {
  let copied = 0;
  for (const n of nodes) {
    const result = await client.query(
      `INSERT INTO proxima_nodes (name, key_id, created_at, last_seen_at, services, record) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (name) DO NOTHING`,
      [n.name, n.keyId, n.createdAt, n.lastSeenAt, n.services, n],
    );
    copied += result.rowCount ?? 0;
  }
  return { copied, present: nodes.length - copied };
}

async function copyKeys(client: Client, keys: KeyRecord[]): Promise<Copied> {
  let copied = 0;
  for (const k of keys) {
    // No conflict target: a key whose id, SHA-256 or working name is there already is kept as it is.
    const result = await client.query(
      `INSERT INTO proxima_api_keys (id, name, sha256, created_at, revoked_at, record) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT DO NOTHING`,
      [k.id, k.name, k.sha256, k.createdAt, k.revokedAt, k],
    );
    copied += result.rowCount ?? 0;
  }
  return { copied, present: keys.length - copied };
}

async function copyLedger(store: PostgresStore, dataDir: string, onSkip?: (s: SkippedLine) => void): Promise<Copied> {
  let [copied, total] = [0, 0];
  let batch: LedgerRow[] = [];
  const send = async (): Promise<void> => {
    try {
      copied += await insertLedgerRows(store, batch);
    } catch (err) {
      throw store.failure('cannot copy the ledger', err);
    }
    total += batch.length;
    batch = [];
  };
  for await (const record of readLedger({ dataDir, onSkip })) {
    batch.push(ledgerRow(record));
    if (batch.length >= DEFAULT_MAX_BATCH_RECORDS) await send();
  }
  if (batch.length > 0) await send();
  return { copied, present: total - copied };
}
