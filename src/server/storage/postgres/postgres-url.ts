/**
 * The `store` section of server.yaml and the PostgreSQL URL in it (`store.postgres.url`, or the
 * environment variable PROXIMA_DATABASE_URL, which wins). The URL carries a password: it is checked
 * at load without ever being echoed, and shown anywhere (logs, errors) only as {@link redactUrl} makes it.
 */

import { integer, isMapping, object, optional, type Schema, scalar, section, withDefault } from '../../../config/schema.js';
import { duration } from '../../../config/values.js';
import { ConfigError } from '../../../errors.js';

/** The environment variable that sets (and overrides) `store.postgres.url`. */
export const DATABASE_URL_ENV = 'PROXIMA_DATABASE_URL';

/** The field the URL is configured by, as messages name it. */
export const URL_FIELD = 'store.postgres.url';

/** Where the shared state lives; absent: the JSON files of the data folder, as for a single super node. */
export interface StoreConfig {
  postgres?: {
    url: string;
    /** While the change-notice connection is down, reload shared state this often (default 1000). */
    pollIntervalMs: number;
    /** The most bytes the ledger's buffer on disk holds while PostgreSQL is unreachable. */
    bufferMaxBytes: number;
  };
}

/** store.postgres.bufferMaxBytes by default: 256 MiB, about 500,000 records. */
export const DEFAULT_BUFFER_MAX_BYTES = 256 * 1024 * 1024;

const EXAMPLE = 'postgres://proxima:PASSWORD@127.0.0.1:5432/proxima';
const MAX_URL_LENGTH = 4096;

/** Why `value` is not a PostgreSQL URL, or undefined. Never quotes the value: it may hold a password. */
export function postgresUrlProblem(value: unknown): string | undefined {
  const must = `must be a PostgreSQL URL, e.g. ${EXAMPLE}`;
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_URL_LENGTH) return must;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return must;
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') return `${must} (the scheme must be postgres: or postgresql:)`;
  if (url.hostname === '' && (url.searchParams.get('host') ?? '') === '') return `${must} (it names no host)`;
  return undefined;
}

/** A PostgreSQL URL (see {@link postgresUrlProblem}). */
export function postgresUrl(): Schema<string> {
  return scalar('a PostgreSQL URL', postgresUrlProblem);
}

/** The schema of `store`. */
export const storeSection: Schema<StoreConfig> = section({
  postgres: optional(
    object({
      url: postgresUrl(),
      pollIntervalMs: withDefault(duration(100, 60_000), 1000),
      bufferMaxBytes: withDefault(integer(65_536, 2 ** 40), DEFAULT_BUFFER_MAX_BYTES),
    }),
  ),
});

/**
 * `raw` (a parsed server.yaml) with `store.postgres.url` set from PROXIMA_DATABASE_URL when that is
 * set. A bad value there is a ConfigError naming the field and the variable (never the value).
 */
export function withDatabaseUrlFromEnv(raw: unknown, env: NodeJS.ProcessEnv): unknown {
  const fromEnv = env[DATABASE_URL_ENV];
  if (fromEnv === undefined || fromEnv === '') return raw;
  const problem = postgresUrlProblem(fromEnv);
  if (problem !== undefined) throw new ConfigError([{ path: URL_FIELD, message: `(from ${DATABASE_URL_ENV}) ${problem}` }]);
  if (raw !== undefined && raw !== null && !isMapping(raw)) return raw; // the schema reports the top level
  const doc = isMapping(raw) ? raw : {};
  const store = isMapping(doc.store) ? doc.store : {};
  const postgres = isMapping(store.postgres) ? store.postgres : {};
  return { ...doc, store: { ...store, postgres: { ...postgres, url: fromEnv } } };
}

/** `url` with its password replaced by `***`, for logs and messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    if (parsed.searchParams.has('password')) parsed.searchParams.set('password', '***');
    return parsed.toString().replace('%2A%2A%2A', '***');
  } catch {
    return '(a malformed URL)';
  }
}

/** The secrets inside `url` (its password, as written and decoded), for {@link scrub}. */
export function secretsOf(url: string): string[] {
  try {
    const parsed = new URL(url);
    const raw = [parsed.password, parsed.searchParams.get('password') ?? ''].filter((s) => s !== '');
    return [...new Set(raw.flatMap((s) => [s, safeDecode(s)]))];
  } catch {
    return [url];
  }
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** `text` with every occurrence of each secret replaced by `***`. */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (secret.length > 0) out = out.split(secret).join('***');
  return out;
}
