/**
 * Small helpers of the stores on PostgreSQL. One transaction on a pooled connection: BEGIN, the caller's statements, COMMIT; ROLLBACK when any
 * throws. Errors that are not already ProximaErrors leave as the store's PRX_ERR_STORE_UNAVAILABLE,
 * scrubbed of the password.
 */
import type pg from 'pg';
import { ProximaError } from '../../../errors.js';
import type { PostgresStore } from './postgres-pool.js';

/** Runs `fn` in a transaction and returns what it returned, once committed. */
export async function inTransaction<T>(store: PostgresStore, what: string, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  let client: pg.PoolClient;
  try {
    client = await store.pool.connect();
  } catch (err) {
    throw store.failure(what, err);
  }
  let broken: unknown;
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch((e: unknown) => {
      broken = e; // a connection that cannot roll back is not given back to the pool
    });
    throw err instanceof ProximaError ? err : store.failure(what, err);
  } finally {
    client.release(broken instanceof Error ? broken : undefined);
  }
}

/** `record` with the fields of `first` first, in that order, then the others: jsonb keeps no key order. */
export function inOrder<T extends object>(first: readonly string[], record: T): T {
  const out: Record<string, unknown> = {};
  const fields = record as Record<string, unknown>;
  for (const key of first) if (key in fields) out[key] = fields[key];
  for (const key of Object.keys(fields)) if (!(key in out)) out[key] = fields[key];
  return out as T;
}
