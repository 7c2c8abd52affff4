/**
 * Every error Proxima raises on purpose is a {@link ProximaError} with a stable string code.
 * Tests and scripts match codes, never messages. The README's error table lists every code;
 * a test keeps the two in step.
 */

/** The stable codes, grouped by the layer that raises them. */
export const ErrorCodes = {
  // configuration and command line
  CONFIG_INVALID: 'PRX_ERR_CONFIG_INVALID',
  USAGE: 'PRX_ERR_USAGE',

  // multiplexer (src/mux)
  MUX_PROTOCOL: 'PRX_ERR_MUX_PROTOCOL',
  MUX_BAD_VERSION: 'PRX_ERR_MUX_BAD_VERSION',
  MUX_UNKNOWN_TYPE: 'PRX_ERR_MUX_UNKNOWN_TYPE',
  MUX_STREAM_ID: 'PRX_ERR_MUX_STREAM_ID',
  MUX_WINDOW_EXCEEDED: 'PRX_ERR_MUX_WINDOW_EXCEEDED',
  MUX_TOO_MANY_STREAMS: 'PRX_ERR_MUX_TOO_MANY_STREAMS',
  MUX_STREAM_RESET: 'PRX_ERR_MUX_STREAM_RESET',
  MUX_GOAWAY: 'PRX_ERR_MUX_GOAWAY',
  MUX_REMOTE_GOAWAY: 'PRX_ERR_MUX_REMOTE_GOAWAY',
  MUX_KEEPALIVE_TIMEOUT: 'PRX_ERR_MUX_KEEPALIVE_TIMEOUT',
  MUX_CONNECTION_LOST: 'PRX_ERR_MUX_CONNECTION_LOST',
  MUX_SESSION_CLOSED: 'PRX_ERR_MUX_SESSION_CLOSED',

  // control connection and handshake (src/proto, src/server, src/client)
  HANDSHAKE_MAGIC: 'PRX_ERR_HANDSHAKE_MAGIC',
  VERSION_MISMATCH: 'PRX_ERR_VERSION_MISMATCH',
  HANDSHAKE_TIMEOUT: 'PRX_ERR_HANDSHAKE_TIMEOUT',
  MESSAGE_TOO_LARGE: 'PRX_ERR_MESSAGE_TOO_LARGE',
  MESSAGE_INVALID: 'PRX_ERR_MESSAGE_INVALID',
  AUTH_FAILED: 'PRX_ERR_AUTH_FAILED',
  SESSION_REPLACED: 'PRX_ERR_SESSION_REPLACED',
  SERVER_DRAINING: 'PRX_ERR_SERVER_DRAINING',
  TOO_MANY_INVALID_MESSAGES: 'PRX_ERR_TOO_MANY_INVALID_MESSAGES',
  CONNECT_FAILED: 'PRX_ERR_CONNECT_FAILED',
  TLS_MISMATCH: 'PRX_ERR_TLS_MISMATCH',

  // public HTTP (tunnel)
  HTTP_HEAD_TOO_LARGE: 'PRX_ERR_HTTP_HEAD_TOO_LARGE',
  HTTP_HEAD_TIMEOUT: 'PRX_ERR_HTTP_HEAD_TIMEOUT',
  HTTP_BAD_REQUEST: 'PRX_ERR_HTTP_BAD_REQUEST',
  HTTP_AMBIGUOUS_FRAMING: 'PRX_ERR_HTTP_AMBIGUOUS_FRAMING',
  HTTP_BAD_RESPONSE: 'PRX_ERR_HTTP_BAD_RESPONSE',
  HTTP_MISDIRECTED: 'PRX_ERR_HTTP_MISDIRECTED',
  HTTP_BODY_TOO_LARGE: 'PRX_ERR_HTTP_BODY_TOO_LARGE',
  HTTP_BODY_TIMEOUT: 'PRX_ERR_HTTP_BODY_TIMEOUT',
  HTTP_METHOD_NOT_ALLOWED: 'PRX_ERR_HTTP_METHOD_NOT_ALLOWED',
  HTTP_NOT_FOUND: 'PRX_ERR_HTTP_NOT_FOUND',
  UNKNOWN_HOST: 'PRX_ERR_UNKNOWN_HOST',
  NODE_OFFLINE: 'PRX_ERR_NODE_OFFLINE',
  SERVICE_UNKNOWN: 'PRX_ERR_SERVICE_UNKNOWN',
  SERVICE_NOT_PUBLIC: 'PRX_ERR_SERVICE_NOT_PUBLIC',
  TARGET_UNREACHABLE: 'PRX_ERR_TARGET_UNREACHABLE',
  NODE_TIMEOUT: 'PRX_ERR_NODE_TIMEOUT',

  // registry and store
  STORE_CORRUPT: 'PRX_ERR_STORE_CORRUPT',
  STORE_LOCKED: 'PRX_ERR_STORE_LOCKED',
  STORE_IO: 'PRX_ERR_STORE_IO',
  STORE_UNAVAILABLE: 'PRX_ERR_STORE_UNAVAILABLE',
  STORE_SCHEMA: 'PRX_ERR_STORE_SCHEMA',
  STORE_CONFLICT: 'PRX_ERR_STORE_CONFLICT',
  NAME_INVALID: 'PRX_ERR_NAME_INVALID',
  NAME_RESERVED: 'PRX_ERR_NAME_RESERVED',
  NAME_TAKEN: 'PRX_ERR_NAME_TAKEN',
  NODE_NOT_FOUND: 'PRX_ERR_NODE_NOT_FOUND',
  KEY_NOT_FOUND: 'PRX_ERR_KEY_NOT_FOUND',
  RATE_LIMITED: 'PRX_ERR_RATE_LIMITED',
  UNAUTHORIZED: 'PRX_ERR_UNAUTHORIZED',
  FORBIDDEN: 'PRX_ERR_FORBIDDEN',

  // the OpenAI/Ollama endpoint (src/server/models)
  MODEL_NOT_FOUND: 'PRX_ERR_MODEL_NOT_FOUND',
  MODEL_UNAVAILABLE: 'PRX_ERR_MODEL_UNAVAILABLE',
  NODES_BUSY: 'PRX_ERR_NODES_BUSY',
  QUOTA_EXCEEDED: 'PRX_ERR_QUOTA_EXCEEDED',
  NODE_FAILED: 'PRX_ERR_NODE_FAILED',

  // usage ledger
  LEDGER_RECORD_INVALID: 'PRX_ERR_LEDGER_RECORD_INVALID',
  USAGE_NOT_RECORDED: 'PRX_ERR_USAGE_NOT_RECORDED',
  LEDGER_BUFFER_FULL: 'PRX_ERR_LEDGER_BUFFER_FULL',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** The status of a failure on the way to a node that no listed code names: the gateway's 502. */
export const UPSTREAM_FAILED_STATUS = 502;

/**
 * The HTTP status of each code that an HTTP client can be answered with, wherever it is answered: a
 * tenant host's error page, the OpenAI/Ollama endpoint, the registration and rewards APIs. A code
 * not listed is a failure on the way to a node (502 on pages and the model API) or a bug (500 on
 * the JSON APIs). The README's error table shows the same statuses; a test keeps them in step.
 */
export const HTTP_STATUS: Readonly<Partial<Record<ErrorCode, number>>> = {
  [ErrorCodes.HTTP_BAD_REQUEST]: 400,
  [ErrorCodes.HTTP_AMBIGUOUS_FRAMING]: 400,
  [ErrorCodes.NAME_INVALID]: 400,
  [ErrorCodes.NAME_RESERVED]: 400,
  [ErrorCodes.UNAUTHORIZED]: 401,
  [ErrorCodes.FORBIDDEN]: 403,
  [ErrorCodes.SERVICE_NOT_PUBLIC]: 403,
  [ErrorCodes.HTTP_NOT_FOUND]: 404,
  [ErrorCodes.UNKNOWN_HOST]: 404,
  [ErrorCodes.SERVICE_UNKNOWN]: 404,
  [ErrorCodes.NODE_NOT_FOUND]: 404,
  [ErrorCodes.KEY_NOT_FOUND]: 404,
  [ErrorCodes.MODEL_NOT_FOUND]: 404,
  [ErrorCodes.HTTP_METHOD_NOT_ALLOWED]: 405,
  [ErrorCodes.HTTP_HEAD_TIMEOUT]: 408,
  [ErrorCodes.HTTP_BODY_TIMEOUT]: 408,
  [ErrorCodes.NAME_TAKEN]: 409,
  [ErrorCodes.HTTP_BODY_TOO_LARGE]: 413,
  [ErrorCodes.HTTP_MISDIRECTED]: 421,
  [ErrorCodes.RATE_LIMITED]: 429,
  [ErrorCodes.QUOTA_EXCEEDED]: 429,
  [ErrorCodes.HTTP_HEAD_TOO_LARGE]: 431,
  [ErrorCodes.NODE_OFFLINE]: 502,
  [ErrorCodes.TARGET_UNREACHABLE]: 502,
  [ErrorCodes.HTTP_BAD_RESPONSE]: 502,
  [ErrorCodes.NODE_FAILED]: 502,
  [ErrorCodes.SERVER_DRAINING]: 503,
  [ErrorCodes.MUX_GOAWAY]: 503,
  [ErrorCodes.MODEL_UNAVAILABLE]: 503,
  [ErrorCodes.NODES_BUSY]: 503,
  [ErrorCodes.STORE_CORRUPT]: 503,
  [ErrorCodes.STORE_LOCKED]: 503,
  [ErrorCodes.STORE_IO]: 503,
  [ErrorCodes.STORE_UNAVAILABLE]: 503,
  [ErrorCodes.USAGE_NOT_RECORDED]: 503,
  [ErrorCodes.LEDGER_BUFFER_FULL]: 503,
  [ErrorCodes.NODE_TIMEOUT]: 504,
};

/** Options every Proxima error accepts. */
export interface ProximaErrorOptions {
  /** The underlying error, usually a system error from a socket or a file. */
  cause?: unknown;
}

/** The base of every error Proxima raises on purpose. Match on `code`, not on `message`. */
export class ProximaError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options: ProximaErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }

  override get name(): string {
    return this.constructor.name;
  }
}

/** True when `err` is a ProximaError carrying `code`. */
export function hasCode(err: unknown, code: ErrorCode): err is ProximaError {
  return err instanceof ProximaError && err.code === code;
}

/** One problem in a config file, with the path of the field it concerns. */
export interface ConfigProblem {
  path: string;
  message: string;
}

/** A config file that does not validate; `problems` lists every problem found, not just the first. */
export class ConfigError extends ProximaError {
  readonly problems: readonly ConfigProblem[];
  readonly file: string | undefined;

  constructor(problems: readonly ConfigProblem[], file?: string, options: ProximaErrorOptions = {}) {
    const where = file === undefined ? 'config' : file;
    const lines = problems.map((p) => `  ${p.path}: ${p.message}`).join('\n');
    super(ErrorCodes.CONFIG_INVALID, `${where} is invalid:\n${lines}`, options);
    this.problems = problems;
    this.file = file;
  }
}

/** False where the intrinsics are frozen (`--frozen-intrinsics`): errors then keep their stacks. */
const STACK_LIMIT_WRITABLE = Object.getOwnPropertyDescriptor(Error, 'stackTraceLimit')?.writable === true;

/**
 * Builds an error without a stack, for what a peer does (a stream reset) rather than a fault of
 * ours: its stack would only show the frame decoder. Capturing one, and formatting it (Node's
 * streams read `err.stack` when destroyed with an error), cost 8 µs an error against 0.8 without,
 * about a tenth of the node's CPU per stream when users leave SSE streams.
 */
export function withoutStack<T extends Error>(make: () => T): T {
  if (!STACK_LIMIT_WRITABLE) return make();
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return make();
  } finally {
    Error.stackTraceLimit = limit;
  }
}
