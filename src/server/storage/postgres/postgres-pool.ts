/**
 * The connection pool to the shared PostgreSQL store (node-postgres), opened from `store.postgres.url`.
 * Every error that leaves here is a ProximaError whose message, and cause, name the URL only redacted
 * and hold no password: node-postgres's own messages are scrubbed of it before they are kept.
 */
import pg from 'pg';
import { ErrorCodes, ProximaError } from '../../../errors.js';
import { type Logger, silentLogger } from '../../../log.js';
import { redactUrl, scrub, secretsOf, URL_FIELD } from './postgres-url.js';

/** How the pool is opened. */
export interface PostgresOptions {
  url: string;
  /** Most connections at once (default 10). */
  max?: number;
  /** How long a connection attempt may take (default 10 s). */
  connectTimeoutMs?: number;
  /** The name PostgreSQL shows for these sessions (pg_stat_activity.application_name). */
  applicationName?: string;
  logger?: Logger;
}

const DEFAULT_MAX = 10;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** A pool and what is needed to report its failures without the password. */
export interface PostgresStore {
  readonly pool: pg.Pool;
  /** The URL with its password replaced by `***`. */
  readonly redactedUrl: string;
  /** `err` as a ProximaError (PRX_ERR_STORE_UNAVAILABLE unless given `code`) saying what failed, scrubbed. */
  failure(what: string, err: unknown, code?: (typeof ErrorCodes)['STORE_UNAVAILABLE' | 'STORE_SCHEMA']): ProximaError;
  /** Closes every connection. Idempotent. */
  close(): Promise<void>;
}

/** A copy of `err` (message, SQLSTATE code) with every secret scrubbed; no stack, no other fields. */
function scrubbed(err: unknown, secrets: readonly string[]): Error {
  const message = err instanceof Error ? err.message : String(err);
  const copy = new Error(scrub(message, secrets));
  copy.stack = copy.message;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') Object.assign(copy, { code });
  return copy;
}

/**
 * Opens a pool on `options.url` and checks that it connects (one `SELECT 1`): PRX_ERR_STORE_UNAVAILABLE
 * naming `store.postgres.url` (redacted) and the reason when it does not.
 */
export async function openPostgres(options: PostgresOptions): Promise<PostgresStore> {
  const logger = options.logger ?? silentLogger;
  const secrets = secretsOf(options.url);
  const redactedUrl = redactUrl(options.url);
  const failure: PostgresStore['failure'] = (what, err, code = ErrorCodes.STORE_UNAVAILABLE) => {
    if (err instanceof ProximaError) return err;
    const cause = scrubbed(err, secrets);
    return new ProximaError(code, `${what} (PostgreSQL at ${redactedUrl}, ${URL_FIELD}): ${cause.message}`, { cause });
  };
  let pool: pg.Pool;
  try {
    pool = new pg.Pool({
      connectionString: options.url,
      max: options.max ?? DEFAULT_MAX,
      connectionTimeoutMillis: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      application_name: options.applicationName ?? 'proxima-server',
    });
  } catch (err) {
    throw failure('cannot open the store', err);
  }
  // An idle connection that breaks (server restart, network) is dropped by the pool; say so, scrubbed.
  pool.on('error', (err) => logger.warn('store: an idle PostgreSQL connection failed', { err: failure('idle connection', err) }));
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= pool.end().catch((err: unknown) => logger.warn('store: closing the PostgreSQL pool failed', { err: failure('close', err) }));
    return closed;
  };
  try {
    await pool.query('SELECT 1');
  } catch (err) {
    await close();
    throw failure('cannot connect to the store', err);
  }
  return { pool, redactedUrl, failure, close };
}
