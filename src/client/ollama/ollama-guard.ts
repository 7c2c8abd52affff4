/**
 * The node's guard in front of its Ollama. Ollama has no authentication and serves management on
 * the same port (pull, delete, create...), so the node protects it even from the super node: tunnel
 * streams for an ollama service are served as HTTP here (guard-connection.ts: the project's own
 * parsers, keep-alive), and only inference and listing requests for shared models reach Ollama,
 * with the Host it wants, on kept-alive sockets (ollama-pool.ts). Answers go back as Ollama sent
 * them, chunked framing included, part by part as they arrive; only their head is edited. When the
 * stream from the super node ends or resets (the user went away), the request to Ollama is cut at once.
 */

import type { Duplex } from 'node:stream';
import type { HostPort } from '../../config/values.js';
import { type ErrorCode, ErrorCodes, ProximaError } from '../../errors.js';
import { newRequestId, REQUEST_ID_HEADER, requestIdOf } from '../../http/request-id.js';
import { type Logger, silentLogger } from '../../log.js';
import { serializeHead } from '../../proto/http/head-edit.js';
import type { RequestHead } from '../../proto/http/request-head.js';
import { LiveList } from '../../streams/live-list.js';
import { abortStream } from '../../streams/stream-relay.js';
import { MINUTE_MS } from '../../time.js';
import { GuardConnection, type GuardRequest } from './guard-connection.js';
import { answerEdits, answerHead, chunkOf, requestForOllama, statusLine } from './guard-heads.js';
import { filterListing, refusal } from './guard-replies.js';
import { type ModelShare, type ShareFilter, shareFilter } from './model-share.js';
import { OllamaCall } from './ollama-call.js';
import { OllamaPool } from './ollama-pool.js';
import { type GuardRoute, guardRoute, requestedModel } from './ollama-routes.js';

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

/** Serves tunnel streams for one ollama service. */
export class OllamaGuard {
  readonly #pool: OllamaPool;
  readonly #isShared: ShareFilter;
  readonly #shareAll: boolean;
  readonly #limits: { maxBodyBytes: number; bodyTimeoutMs: number };
  readonly #idleTimeoutMs: number;
  readonly #logger: Logger;
  readonly #onRequest: OllamaGuardOptions['onRequest'];
  readonly #connections = new LiveList<GuardConnection>();

  constructor(options: OllamaGuardOptions) {
    const { service } = options;
    this.#pool = new OllamaPool(service);
    this.#isShared = shareFilter(service.share);
    this.#shareAll = service.share === '*';
    this.#limits = {
      maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
      bodyTimeoutMs: options.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS,
    };
    this.#idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_GUARD_IDLE_TIMEOUT_MS;
    this.#logger = (options.logger ?? silentLogger).child({ service: service.name });
    this.#onRequest = options.onRequest;
  }

  /** Serves HTTP on `stream` (the bytes after its `open` header); resolves once the stream has closed. */
  serve(stream: Duplex): Promise<void> {
    if (stream.closed) return Promise.resolve(); // reset by the super node before it was handed over
    const connection = new GuardConnection(stream, {
      handle: (request) => this.#handle(request),
      logger: this.#logger,
      idleTimeoutMs: this.#idleTimeoutMs,
      maxHeadBytes: MAX_HEAD_BYTES,
    });
    const entry = this.#connections.add(connection);
    return connection.done.then(() => this.#connections.delete(entry));
  }

  /** Lets requests to Ollama finish, then closes its connections. Idempotent. */
  async close(): Promise<void> {
    await this.#pool.close();
  }

  /** Cuts every stream and every request to Ollama now. Idempotent. */
  async destroy(): Promise<void> {
    for (const connection of this.#connections.list()) connection.destroy();
    await this.#pool.destroy();
  }

  async #handle(request: GuardRequest): Promise<void> {
    const ended = this.#onRequest?.();
    let problem: string | undefined;
    try {
      await this.#answer(request);
    } catch (err) {
      if (request.signal.aborted) return;
      // The detail (Ollama's local address, the system's error) stays in this log; the reply names
      // only the request id, the super node's when it sent one.
      const requestId = requestIdOf(request.head.get(REQUEST_ID_HEADER)) ?? newRequestId();
      this.#logger.warn('ollama request failed', { requestId, upstream: this.#pool.origin, err });
      problem = `Ollama did not answer (request id ${requestId}): ${(err as Error).message}`;
      // A head already sent cannot be taken back: a reset tells the super node the answer is cut.
      if (request.headSent) abortStream(request.stream);
      else this.#refuse(request, ErrorCodes.TARGET_UNREACHABLE, `the node's Ollama did not answer (request id ${requestId})`);
    } finally {
      ended?.({ status: request.status, failed: !request.finished || request.status >= 500, problem });
    }
  }

  #refuse(request: GuardRequest, code: ErrorCode, message: string, close = false): void {
    if (close) request.closeAfter = true;
    const { status, bytes } = refusal(request.path, code, message, {
      close: request.closeAfter,
      headRequest: request.head.method === 'HEAD',
    });
    request.reply(status, bytes);
  }

  async #answer(request: GuardRequest): Promise<void> {
    const { head, path } = request;
    const route = guardRoute(head.method, path);
    if (route === undefined) {
      // A body comes with it: the stream ends after the refusal rather than read and drop it unbounded.
      const body = head.framing.kind === 'chunked' || (head.framing.kind === 'length' && head.framing.length > 0);
      return this.#refuse(
        request,
        ErrorCodes.FORBIDDEN,
        `${head.method} ${path} is not served through Proxima: only inference and model listings are`,
        body,
      );
    }
    let body: Buffer | undefined;
    if (route.modelInBody === true) {
      try {
        body = await request.readBody(this.#limits);
      } catch (err) {
        const { code, message } = err as ProximaError;
        if (!request.signal.aborted) this.#refuse(request, code, message, true);
        return;
      }
    }
    const refused = this.#checkModel(route, path, body);
    if (refused !== undefined) return this.#refuse(request, refused.code, refused.message);
    const call = await OllamaCall.start(this.#pool, head.method, this.#requestBytes(head, body), request.signal);
    const up = call.head;
    if (route.listing !== undefined && !this.#shareAll && head.method === 'GET' && up.status === 200) {
      const listing = filterListing(route.listing, await call.readWhole(MAX_LISTING_BYTES), this.#isShared);
      if (listing === undefined) throw new ProximaError(ErrorCodes.HTTP_BAD_RESPONSE, `${path} did not answer a model list`);
      const edits = answerEdits(up, request.closeAfter, {
        remove: ['transfer-encoding', 'trailer'],
        set: { 'Content-Length': String(listing.length) },
      });
      return request.reply(200, Buffer.concat([serializeHead(up, edits, statusLine(up)), listing]));
    }
    await this.#relay(request, call);
  }

  /**
   * Passes Ollama's answer on as it came, part by part, with backpressure both ways. A body that
   * runs until Ollama closes is re-framed as chunked for an HTTP/1.1 request, so that the super node
   * finds its end and the stream stays open; an HTTP/1.0 request gets it as it came, then the end.
   */
  async #relay(request: GuardRequest, call: OllamaCall): Promise<void> {
    const up = call.head;
    const reframe = call.framing.kind === 'close' && request.head.version === '1.1';
    if (call.framing.kind === 'close' && !reframe) request.closeAfter = true;
    const head = answerHead(up, request.closeAfter, reframe);
    const { stream } = request;
    let headOut = false;
    // Listened to only while a write has asked to wait: a listener on and off per chat cost more.
    let waiting = false;
    const resume = (): void => {
      waiting = false;
      call.resume();
    };
    const relayed = call.relay((bytes, done) => {
      const out = reframe ? chunkOf(bytes, done) : bytes;
      let flowing = true;
      if (!headOut) {
        headOut = true;
        flowing = request.sendHead(up.status, head, out);
      } else if (out.length > 0) flowing = stream.write(out);
      if (done) request.finished = true;
      else if (!flowing && !waiting) {
        waiting = true;
        stream.once('drain', resume);
      }
      return flowing;
    });
    // What of the body came in with the head went out with it, in one write; with nothing yet, the
    // head goes now, not with the first token, which may be minutes away.
    if (!headOut) {
      headOut = true;
      request.sendHead(up.status, head);
    }
    try {
      await relayed;
    } finally {
      if (waiting) stream.off('drain', resume);
    }
  }

  /** The request for Ollama: its head without the connection's fields, with Ollama's Host, then the body. */
  #requestBytes(head: RequestHead, body: Buffer | undefined): Buffer | Buffer[] {
    return requestForOllama(head, this.#pool.hostHeader, body, !this.#pool.keepsAlive);
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
