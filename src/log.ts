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
   * built from known values that are never secret (the access log, src/server/observe). Such lines
   * are gathered and written once per turn of the event loop (any other line writes them first).
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
  return makeLogger(level, { stream, pending: '', scheduled: false }, options.bindings ?? {}, now);
}

/**
 * A logger's stream and the plain lines waiting for it. One write per turn of the event loop, not
 * one per request: on a pipe, stderr writes are synchronous system calls (docs/performance-notes.md,
 * "Request metrics and the access log").
 */
interface Batch {
  stream: Pick<Writable, 'write'>;
  pending: string;
  scheduled: boolean;
}

/** Past this, waiting plain lines are written at once. */
const MAX_PENDING_CHARS = 64 * 1024;

function flush(batch: Batch): void {
  if (batch.pending === '') return;
  const text = batch.pending;
  batch.pending = '';
  batch.stream.write(text);
}

function makeLogger(level: LogLevel, batch: Batch, bindings: LogFields, now: () => Date): Logger {
  const min = LEVEL_RANK[level];
  const { stream } = batch;
  const emit = (lvl: Exclude<LogLevel, 'silent'>, msg: string, fields?: LogFields): void => {
    if (LEVEL_RANK[lvl] < min) return;
    const line = Object.assign({ time: now().toISOString(), level: lvl, msg }, redact(Object.assign({}, bindings, fields)));
    flush(batch); // lines keep their order
    stream.write(JSON.stringify(line) + '\n');
  };
  /** The bindings as JSON members, made at the first plain line (children are made per stream). */
  let bound: string | undefined;
  return {
    level,
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
    infoPlain: (msg, fields) => {
      if (LEVEL_RANK.info < min) return;
      bound ??= JSON.stringify(bindings).slice(1, -1);
      const members = JSON.stringify(fields);
      batch.pending += `{"time":"${now().toISOString()}","level":"info","msg":${JSON.stringify(msg)}${bound === '' ? '' : `,${bound}`}${members === '{}' ? '}' : `,${members.slice(1)}`}\n`;
      if (batch.pending.length > MAX_PENDING_CHARS) flush(batch);
      else if (!batch.scheduled) {
        batch.scheduled = true;
        setImmediate(() => {
          batch.scheduled = false;
          flush(batch);
        });
      }
    },
    // Not `{ ...bindings, ...more }`: the node makes a child per stream, and on V8 11.3 a spread
    // that is extended gets a fresh hidden class each time (docs/performance-notes.md "Hidden classes per connection").
    child: (more) => makeLogger(level, batch, Object.assign({}, bindings, more), now),
  };
}

/** A logger that writes nothing; the default for library objects created without one. */
export const silentLogger: Logger = createLogger({ level: 'silent' });
