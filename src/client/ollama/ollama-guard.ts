/**
 * The node's guard in front of its Ollama. Ollama has no authentication and serves management on
 * the same port (pull, delete, create...), so the node protects it even from the super node: tunnel
 * streams for an ollama service are served as HTTP here (node:http, fed each stream as a
 * connection, keep-alive), and only inference and listing requests for shared models reach Ollama,
 * with the Host it wants. Answers stream back as they arrive, chunk by chunk; when the stream from
 * the super node ends or resets (the user went away), the request to Ollama is aborted at once.
 */

import { once } from 'node:events';
import http, { type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import { type Duplex, finished, type Readable } from 'node:stream';
import type { HostPort } from '../../config/values.js';
import { type ErrorCode, ErrorCodes, ProximaError } from '../../errors.js';
import { readRequestBody } from '../../http/request-body.js';
import { newRequestId, REQUEST_ID_HEADER, requestIdOf } from '../../http/request-id.js';
import { type Logger, silentLogger } from '../../log.js';
import { LiveList } from '../../streams/live-list.js';
import { abortStream } from '../../streams/stream-relay.js';
import { MINUTE_MS } from '../../time.js';
import { filterListing, sendRefusal } from './guard-replies.js';
import { type ModelShare, type ShareFilter, shareFilter } from './model-share.js';
import { type GuardRoute, guardRoute, requestedModel } from './ollama-routes.js';
import { OllamaUpstream, readBounded } from './ollama-upstream.js';

/** The ollama service a guard stands in front of (an OllamaServiceConfig fits). */
export interface GuardedService {
  name: string;
  local: HostPort;
  hostHeader: string;
  share: ModelShare;
}

/** Options of an OllamaGuard. */
export interface OllamaGuardOptions {
  service: GuardedService;
  /** Largest request body let through (413 beyond). */
  maxBodyBytes?: number;
  /** Time a request body has to arrive whole (408 beyond). */
  bodyTimeoutMs?: number;
  /** A stream with no request in progress this long (a head that never completes included) is ended. */
  idleTimeoutMs?: number;
  logger?: Logger;
  /** Told when each request begins; the function it returns is told how it ended (the status page counts them). */
  onRequest?: () => (outcome: { status: number; failed: boolean; problem?: string }) => void;
}

export const DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024;
export const DEFAULT_BODY_TIMEOUT_MS = MINUTE_MS;
/** Longer than the super node keeps an idle public connection (60 s by default): it ends them first. */
export const DEFAULT_GUARD_IDLE_TIMEOUT_MS = 300_000;
/** Largest model listing read from Ollama to be filtered. */
const MAX_LISTING_BYTES = 8 * 1024 * 1024;
/** Request heads as large as the super node lets through (its http.maxHeadBytes goes to 1 MiB). */
const MAX_HEAD_BYTES = 1024 * 1024;

/** Fields that belong to one connection, never forwarded (RFC 9110 7.6.1); Host is the guard's to set. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'expect',
  'host',
  'content-length',
]);

/** One stream being served: requests in progress, their aborts, the idle timer. */
interface StreamState {
  active: number;
  aborts: Set<AbortController>;
  idle: NodeJS.Timeout | undefined;
}

/** Serves tunnel streams for one ollama service. */
export class OllamaGuard {
  readonly #server: http.Server;
  readonly #upstream: OllamaUpstream;
  readonly #isShared: ShareFilter;
  readonly #shareAll: boolean;
  readonly #limits: { maxBodyBytes: number; bodyTimeoutMs: number };
  readonly #idleTimeoutMs: number;
  readonly #logger: Logger;
  readonly #onRequest: OllamaGuardOptions['onRequest'];
  /** The state of each stream served, weakly held: in a Map that churns, closed streams get promoted (see live-list.ts). */
  readonly #states = new WeakMap<Duplex, StreamState>();
  readonly #streams = new LiveList<Duplex>();

  constructor(options: OllamaGuardOptions) {
    const { service } = options;
    this.#upstream = new OllamaUpstream(service);
    this.#isShared = shareFilter(service.share);
    this.#shareAll = service.share === '*';
    this.#limits = {
      maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
      bodyTimeoutMs: options.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS,
    };
    this.#idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_GUARD_IDLE_TIMEOUT_MS;
    this.#logger = (options.logger ?? silentLogger).child({ service: service.name });
    this.#onRequest = options.onRequest;
    this.#server = http.createServer({ maxHeaderSize: MAX_HEAD_BYTES }, (req, res) => void this.#handle(req, res));
    // Never listening, the server keeps no timers of its own: the limits here are the guard's.
    this.#server.keepAliveTimeout = 0;
    this.#server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      this.#logger.debug('bad request from the super node', { err });
      if (!socket.writable) return void socket.destroy();
      socket.end(
        err.code === 'HPE_HEADER_OVERFLOW'
          ? 'HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n'
          : 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n',
      );
    });
  }

  /** Serves HTTP on `stream` (the bytes after its `open` header); resolves once the stream has closed. */
  serve(stream: Duplex): Promise<void> {
    if (stream.closed) return Promise.resolve(); // reset by the super node before it was handed over
    const state: StreamState = { active: 0, aborts: new Set(), idle: undefined };
    this.#states.set(stream, state);
    const entry = this.#streams.add(stream);
    // The super node never ends a stream while an answer is due: an end then means the user left.
    stream.on('end', () => {
      if (state.active > 0) abortStream(stream);
    });
    const closed = new Promise<void>((resolve) =>
      stream.once('close', () => {
        clearTimeout(state.idle);
        for (const abort of state.aborts) abort.abort();
        this.#states.delete(stream);
        this.#streams.delete(entry);
        resolve();
      }),
    );
    this.#armIdle(stream, state);
    this.#server.emit('connection', stream);
    return closed;
  }

  /** Lets requests to Ollama finish, then closes its connections. Idempotent. */
  async close(): Promise<void> {
    await this.#upstream.close();
  }

  /** Cuts every stream and every request to Ollama now. Idempotent. */
  async destroy(): Promise<void> {
    for (const stream of this.#streams.list()) abortStream(stream);
    await this.#upstream.destroy();
  }

  #armIdle(stream: Duplex, state: StreamState): void {
    clearTimeout(state.idle);
    state.idle = setTimeout(() => stream.end(), this.#idleTimeoutMs);
    state.idle.unref();
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const stream = req.socket as Duplex;
    const state = this.#states.get(stream);
    if (state === undefined) return void res.destroy(); // parsed as the stream closed: nobody to answer
    state.active++;
    clearTimeout(state.idle);
    const abort = new AbortController();
    state.aborts.add(abort);
    const ended = this.#onRequest?.();
    let problem: string | undefined;
    res.once('close', () => {
      ended?.({ status: res.statusCode, failed: !res.writableFinished || res.statusCode >= 500, problem });
      state.aborts.delete(abort);
      if (!res.writableFinished) abort.abort();
      if (--state.active === 0 && !stream.destroyed) this.#armIdle(stream, state);
    });
    try {
      await this.#answer(req, res, abort.signal);
    } catch (err) {
      if (abort.signal.aborted) return;
      // The detail (Ollama's local address, the system's error) stays in this log; the reply names
      // only the request id, the super node's when it sent one.
      const requestId = requestIdOf(req.headers[REQUEST_ID_HEADER]) ?? newRequestId();
      this.#logger.warn('ollama request failed', { requestId, upstream: this.#upstream.origin, err });
      problem = `Ollama did not answer (request id ${requestId}): ${(err as Error).message}`;
      // A head already sent cannot be taken back: a reset tells the super node the answer is cut.
      if (res.headersSent) abortStream(stream);
      else sendRefusal(res, pathOf(req), ErrorCodes.TARGET_UNREACHABLE, `the node's Ollama did not answer (request id ${requestId})`);
    }
  }

  async #answer(req: IncomingMessage, res: ServerResponse, signal: AbortSignal): Promise<void> {
    const path = pathOf(req);
    const route = guardRoute(req.method, path);
    if (route === undefined) {
      return sendRefusal(
        res,
        path,
        ErrorCodes.FORBIDDEN,
        `${req.method ?? '?'} ${path} is not served through Proxima: only inference and model listings are`,
      );
    }
    const body = route.modelInBody === true ? await this.#readBody(req, res, path) : undefined;
    if (body === null) return;
    const refusal = this.#checkModel(route, path, body);
    if (refusal !== undefined) return sendRefusal(res, path, refusal.code, refusal.message);
    const up = await this.#upstream.request({ method: req.method!, path: req.url!, headers: forwardedHeaders(req.headers), body, signal });
    if (route.listing !== undefined && !this.#shareAll && req.method === 'GET' && up.statusCode === 200) {
      const listing = filterListing(route.listing, await readBounded(up.body, MAX_LISTING_BYTES), this.#isShared);
      if (listing === undefined) throw new ProximaError(ErrorCodes.HTTP_BAD_RESPONSE, `${path} did not answer a model list`);
      res.writeHead(200, { ...responseHeaders(up.headers), 'content-length': listing.length });
      return void res.end(listing);
    }
    res.writeHead(up.statusCode, responseHeaders(up.headers));
    // What of the body came in with the head goes out with it, in one frame; with nothing yet, the
    // head goes now, not with the first token, which may be minutes away.
    const arrived = up.body.read() as Buffer | null;
    if (arrived === null) res.flushHeaders();
    else if (!res.write(arrived)) await once(res, 'drain', { signal });
    await copyBody(up.body, res, signal);
  }

  /** The body, or null once a refusal (413, 408, 400) has been sent and the connection is to close. */
  async #readBody(req: IncomingMessage, res: ServerResponse, path: string): Promise<Buffer | null> {
    try {
      return await readRequestBody(req, this.#limits);
    } catch (err) {
      const { code, message } = err as ProximaError;
      if (!res.destroyed) sendRefusal(res, path, code, message, true);
      return null;
    }
  }

  /** Why a request may not reach Ollama: a body without a clear model, or a model not shared. */
  #checkModel(route: GuardRoute, path: string, body: Buffer | undefined): { code: ErrorCode; message: string } | undefined {
    let model = route.modelInPath;
    if (body !== undefined) {
      const wanted = requestedModel(path, body);
      if ('problem' in wanted) return { code: ErrorCodes.HTTP_BAD_REQUEST, message: wanted.problem };
      model = wanted.model;
    }
    if (model === undefined || this.#isShared(model)) return undefined;
    return { code: ErrorCodes.FORBIDDEN, message: `model '${model}' is not shared by this node` };
  }
}

/**
 * Copies Ollama's answer chunk by chunk as it arrives, with backpressure. A body that fails rejects
 * and leaves `res` as it is (the caller resets the stream, so the cut shows); `signal` fires when
 * the user left, and the request to Ollama is aborted with it. Events rather than `for await`: the
 * async iterator made a promise and a microtask per chunk, on the path of every token.
 */
function copyBody(body: Readable, res: ServerResponse, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const resume = (): void => void body.resume();
    const onAbort = (): void => void body.destroy();
    body.on('data', (chunk: Buffer) => {
      if (res.write(chunk)) return;
      body.pause();
      res.once('drain', resume);
    });
    signal.addEventListener('abort', onAbort, { once: true });
    finished(body, (err) => {
      signal.removeEventListener('abort', onAbort);
      res.off('drain', resume);
      if (err !== undefined && err !== null) return reject(err);
      res.end();
      resolve();
    });
  });
}

function pathOf(req: IncomingMessage): string {
  return (req.url ?? '').split('?', 1)[0]!;
}

/** The request's fields for Ollama: all but the connection's own (and Host, which the upstream sets). */
function forwardedHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const named = new Set(
    String(headers.connection ?? '')
      .toLowerCase()
      .split(',')
      .map((s) => s.trim()),
  );
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name) && !named.has(name)) out[name] = value;
  }
  return out;
}

/** Ollama's response fields for the super node, but the connection's own; the length stays. */
function responseHeaders(headers: Record<string, string | string[] | undefined>): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && (name === 'content-length' || !HOP_BY_HOP.has(name))) out[name] = value;
  }
  return out;
}
