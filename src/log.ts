/**
 * A small structured logger: one JSON object per line, to stderr by default.
 * Fields whose names look like secrets are redacted before they are written, so a token handed
 * to a log call by mistake never reaches a log file.
 */
import type { Writable } from 'node:stream';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

const LEVEL_RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/** Names of fields whose values are never logged. */
const SECRET_FIELD = /token|secret|password|authorization|apikey|api_key|^key$|cookie/i;

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /**
   * An info line whose fields are written as given, without the redaction walk: only for flat lines
   * built from known values that are never secret (the access log, src/server/observe).
   */
  infoPlain(msg: string, fields: LogFields): void;
  /** A logger that adds `bindings` to every line. */
  child(bindings: LogFields): Logger;
  readonly level: LogLevel;
}

export interface LoggerOptions {
  level?: LogLevel;
  /** Where lines go; defaults to process.stderr. */
  stream?: Pick<Writable, 'write'>;
  bindings?: LogFields;
  /** Injectable clock for tests. */
  now?: () => Date;
}

/** True for the names `createLogger` accepts as a level. */
export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === 'string' && Object.hasOwn(LEVEL_RANK, value);
}

/** Replaces secret-looking fields and serialises errors to their code, message and cause. */
export function redact(value: unknown, depth = 0): unknown {
  if (value instanceof Error) {
    const out: LogFields = { name: value.name, message: value.message };
    const code = (value as { code?: unknown }).code;
    if (code !== undefined) out.code = code;
    if (value.cause !== undefined && depth < 4) out.cause = redact(value.cause, depth + 1);
    return out;
  }
  if (value === null || typeof value !== 'object' || depth >= 6) return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  if (Buffer.isBuffer(value)) return `<${value.length} bytes>`;
  const out: LogFields = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = SECRET_FIELD.test(k) && v !== undefined && v !== null ? '[redacted]' : redact(v, depth + 1);
  }
  return out;
}

/** Creates a logger. Without a level it takes PROXIMA_LOG, else info (the programs always give one: log.level). */
export function createLogger(options: LoggerOptions = {}): Logger {
  const envLevel = process.env.PROXIMA_LOG;
  const level: LogLevel = options.level ?? (isLogLevel(envLevel) ? envLevel : 'info');
  const stream = options.stream ?? process.stderr;
  const now = options.now ?? (() => new Date());
  return makeLogger(level, stream, options.bindings ?? {}, now);
}

function makeLogger(level: LogLevel, stream: Pick<Writable, 'write'>, bindings: LogFields, now: () => Date): Logger {
  const min = LEVEL_RANK[level];
  const emit = (lvl: Exclude<LogLevel, 'silent'>, msg: string, fields?: LogFields): void => {
    if (LEVEL_RANK[lvl] < min) return;
    const line = Object.assign({ time: now().toISOString(), level: lvl, msg }, redact(Object.assign({}, bindings, fields)));
    stream.write(JSON.stringify(line) + '\n');
  };
  return {
    level,
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
    infoPlain: (msg, fields) => {
      if (LEVEL_RANK.info < min) return;
      stream.write(JSON.stringify(Object.assign({ time: now().toISOString(), level: 'info', msg }, bindings, fields)) + '\n');
    },
    // Not `{ ...bindings, ...more }`: the node makes a child per stream, and on V8 11.3 a spread
    // that is extended gets a fresh hidden class each time (docs/performance-notes.md "Hidden classes per connection").
    child: (more) => makeLogger(level, stream, Object.assign({}, bindings, more), now),
  };
}

/** A logger that writes nothing; the default for library objects created without one. */
export const silentLogger: Logger = createLogger({ level: 'silent' });
