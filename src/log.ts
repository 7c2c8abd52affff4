/**
 * A small structured logger, to stderr by default: one JSON object per line, or one readable line
 * (`pretty`) for a person at a terminal. Fields whose names look like secrets are redacted before
 * either is written, so a token handed to a log call by mistake never reaches a log file or a screen.
 * Why not pino: docs/operations.md "Logs".
 */
import type { Writable } from 'node:stream';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

const LEVEL_RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/** `json`: one JSON object a line. `pretty`: `10:21:03.123 INFO  msg  key=value`. `auto`: pretty on a TTY, else json. */
export type LogFormat = 'auto' | 'json' | 'pretty';

/** The formats a config file may set. */
export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const satisfies readonly LogFormat[];

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

/** Where lines go: a Writable; `isTTY` (as on process.stderr) decides `auto`. */
export type LogStream = Pick<Writable, 'write'> & { isTTY?: boolean };

export interface LoggerOptions {
  level?: LogLevel;
  /** `auto` by default. */
  format?: LogFormat;
  /** Where lines go; defaults to process.stderr. */
  stream?: LogStream;
  bindings?: LogFields;
  /** Injectable clock for tests. */
  now?: () => Date;
  /** Injectable environment (NO_COLOR, PROXIMA_LOG) for tests; process.env by default. */
  env?: NodeJS.ProcessEnv;
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
  const env = options.env ?? process.env;
  const envLevel = env.PROXIMA_LOG;
  const level: LogLevel = options.level ?? (isLogLevel(envLevel) ? envLevel : 'info');
  const stream = options.stream ?? process.stderr;
  const now = options.now ?? (() => new Date());
  const pretty = options.format === 'pretty' || ((options.format ?? 'auto') === 'auto' && stream.isTTY === true);
  // https://no-color.org: colours only on a terminal, and never when NO_COLOR is set to anything.
  const colour = pretty && stream.isTTY === true && (env.NO_COLOR ?? '') === '';
  const format: LineFormat | undefined = pretty ? (time, lvl, msg, fields) => prettyLine(time, lvl, msg, fields, colour) : undefined;
  return makeLogger(level, { stream, pending: '', scheduled: false }, options.bindings ?? {}, now, format);
}

type EmitLevel = Exclude<LogLevel, 'silent'>;
type LineFormat = (time: Date, level: EmitLevel, msg: string, fields: LogFields) => string;

const jsonLine: LineFormat = (time, level, msg, fields) =>
  JSON.stringify(Object.assign({ time: time.toISOString(), level, msg }, fields)) + '\n';

/**
 * A logger's stream and the plain lines waiting for it. One write per turn of the event loop, not
 * one per request: on a pipe, stderr writes are synchronous system calls (docs/performance-notes.md,
 * "Request metrics and the access log").
 */
interface Batch {
  stream: LogStream;
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

/** `pretty` formats readable lines; without it, lines are JSON (and plain lines are built as JSON text). */
function makeLogger(level: LogLevel, batch: Batch, bindings: LogFields, now: () => Date, pretty: LineFormat | undefined): Logger {
  const min = LEVEL_RANK[level];
  const format = pretty ?? jsonLine;
  const emit = (lvl: EmitLevel, msg: string, fields?: LogFields): void => {
    if (LEVEL_RANK[lvl] < min) return;
    flush(batch); // lines keep their order
    batch.stream.write(format(now(), lvl, msg, redact(Object.assign({}, bindings, fields)) as LogFields));
  };
  /** The bindings as JSON members, made at the first plain line (children are made per stream). */
  let bound: string | undefined;
  const plainLine = (msg: string, fields: LogFields): string => {
    if (pretty !== undefined) return pretty(now(), 'info', msg, Object.assign({}, bindings, fields));
    bound ??= JSON.stringify(bindings).slice(1, -1);
    const members = JSON.stringify(fields);
    return `{"time":"${now().toISOString()}","level":"info","msg":${JSON.stringify(msg)}${bound === '' ? '' : `,${bound}`}${members === '{}' ? '}' : `,${members.slice(1)}`}\n`;
  };
  return {
    level,
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
    infoPlain: (msg, fields) => {
      if (LEVEL_RANK.info < min) return;
      batch.pending += plainLine(msg, fields);
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
    child: (more) => makeLogger(level, batch, Object.assign({}, bindings, more), now, pretty),
  };
}

const LEVEL_LABEL: Record<EmitLevel, string> = { debug: 'DEBUG', info: 'INFO ', warn: 'WARN ', error: 'ERROR' };
/** SGR colours: grey, green, yellow, red; dim for field names. */
const LEVEL_COLOUR: Record<EmitLevel, string> = { debug: '\x1b[90m', info: '\x1b[32m', warn: '\x1b[33m', error: '\x1b[31m' };
const DIM = '\x1b[2m';
const RESET = '\x1b[0m';

/**
 * What a terminal could take for something other than text: C0 and C1 controls (ESC starts colour and
 * cursor sequences, CR and LF forge lines), line and paragraph separators, and bidirectional overrides
 * (which reorder what follows). A model name or a header is shown with these as `\xHH` / `\u{HHHH}`.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const UNSAFE = /[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\\]/g;
/** The same in JSON text, whose backslashes are its own escapes. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the same
const UNSAFE_IN_JSON = /[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** `text` with every unsafe character (and the backslash that marks escapes) written as an escape. */
export function escapeControl(text: string, pattern = UNSAFE): string {
  return text.replace(pattern, (c) => {
    if (c === '\\') return '\\\\';
    const code = c.charCodeAt(0);
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
  });
}

/** A value as `key=` shows it: plain when it is one safe word, quoted when it has spaces, `"` or `=`. */
function prettyValue(value: unknown): string {
  if (typeof value === 'string') {
    const text = escapeControl(value);
    return text === '' || /[\s"=]/.test(text) ? `"${text.replace(/"/g, '\\"')}"` : text;
  }
  if (value === null || typeof value !== 'object') return escapeControl(String(value));
  if (isErrorShape(value)) return prettyValue(errorText(value));
  // Other objects and arrays as JSON: strings in it have their controls escaped as \uXXXX already.
  return escapeControl(JSON.stringify(value) ?? String(value), UNSAFE_IN_JSON);
}

interface ErrorShape {
  name: string;
  message: string;
  code?: unknown;
  cause?: unknown;
}

function isErrorShape(value: object): value is ErrorShape {
  const v = value as Partial<ErrorShape>;
  return typeof v.name === 'string' && typeof v.message === 'string';
}

/** `PRX_ERR_X: message <- cause` from a redacted error. */
function errorText(err: ErrorShape): string {
  const head = `${typeof err.code === 'string' ? err.code : err.name}: ${err.message}`;
  const cause = err.cause;
  if (cause === undefined || cause === null || typeof cause !== 'object' || !isErrorShape(cause)) return head;
  return `${head} <- ${errorText(cause)}`;
}

/** `HH:MM:SS.mmm LEVEL msg  key=value ...` (UTC, like the JSON's `time`). */
function prettyLine(time: Date, level: EmitLevel, msg: string, fields: LogFields, colour: boolean): string {
  const clock = time.toISOString().slice(11, 23);
  const label = colour ? `${LEVEL_COLOUR[level]}${LEVEL_LABEL[level]}${RESET}` : LEVEL_LABEL[level];
  let line = `${clock} ${label} ${escapeControl(msg)}`;
  let first = true;
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    const name = escapeControl(key);
    line += `${first ? '  ' : ' '}${colour ? `${DIM}${name}=${RESET}` : `${name}=`}${prettyValue(value)}`;
    first = false;
  }
  return line + '\n';
}

/** A logger that writes nothing; the default for library objects created without one. */
export const silentLogger: Logger = createLogger({ level: 'silent' });
