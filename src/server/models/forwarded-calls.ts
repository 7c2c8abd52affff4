/**
 * API requests another instance of the cluster forwards for a node this one holds (docs/protocol.md
 * "Peer link"). A peer stream with `via: api` carries HTTP/1.1 requests, kept alive between them,
 * all for one node service. Each request takes a slot on that service in this instance's router,
 * as a request of its own would (the node's maxConcurrent counts every instance's requests), and
 * goes to the node through this instance's pool, on a kept-alive node stream. The answer comes back
 * as the node gave it; the entry instance meters it and writes its record. What this instance
 * refuses before the node answers (offline, busy, draining, the node's stream not opening) goes back
 * as a refusal: the error's status, its code in `Proxima-Forward-Refused`, its message as the body,
 * which the entry turns back into the same coded error (node-call.ts).
 */
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { Cancel } from '../../cancel.js';
import { ErrorCodes, HTTP_STATUS, ProximaError } from '../../errors.js';
import type { DispatchResponse } from '../../http/dispatcher.js';
import type { Logger } from '../../log.js';
import { FORWARD_REFUSED_HEADER } from '../../proto/http/error.js';
import { abortStream } from '../../streams/stream-relay.js';
import type { ModelCatalog } from './routing/model-catalog.js';
import type { ModelRouter } from './routing/model-router.js';
import type { UpstreamPools } from './routing/upstream-pools.js';

/** A forwarded request's head is what the entry's pool wrote: small. */
const MAX_HEAD_BYTES = 16 * 1024;

/**
 * Headers of one hop only: never passed on (RFC 9110 7.6.1); Host, which the pool sets; and the
 * refusal's, which only this instance may send (a node's answer carrying it would pass for one).
 */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  FORWARD_REFUSED_HEADER.toLowerCase(),
]);

/** What the holder serves with. */
export interface ForwardedCallsOptions {
  catalog: Pick<ModelCatalog, 'hostOn'>;
  router: Pick<ModelRouter, 'acquireOn'>;
  pools: Pick<UpstreamPools, 'pool'>;
  logger: Logger;
}

/** A peer stream: the node service it is bound to, and the requests it is answering now (0 or 1: the entry's pool sends one at a time). */
interface Target {
  node: string;
  service: string;
  active: number;
}

/** The forwarded calls of this instance. */
export class ForwardedCalls {
  readonly #o: ForwardedCallsOptions;
  /** Made at the first forwarded stream: a super node without peers never loads node:http (about 1 MiB). */
  #server: Server | undefined;
  /** The open streams. */
  readonly #streams = new Map<Duplex, Target>();
  #closed = false;

  constructor(o: ForwardedCallsOptions) {
    this.#o = o;
  }

  /** Serves the HTTP requests on `stream` (a peer stream, its header read and answered) for `node`'s `service`. */
  serve(stream: Duplex, node: string, service: string): void {
    if (this.#closed) {
      abortStream(stream);
      return;
    }
    this.#streams.set(stream, { node, service, active: 0 });
    stream.once('close', () => this.#streams.delete(stream));
    this.#httpServer().emit('connection', stream);
  }

  /**
   * New requests are refused (PRX_ERR_SERVER_DRAINING); those in flight finish, and idle streams
   * are ended now, so the peer link does not wait for the entry's keep-alive to close them. Idempotent.
   */
  close(): void {
    this.#closed = true;
    for (const [stream, { active }] of this.#streams) if (active === 0) stream.end();
  }

  #httpServer(): Server {
    if (this.#server !== undefined) return this.#server;
    const o = this.#o;
    // No clocks of its own: the entry keeps the request's (first byte, idle, total) and closes an
    // idle stream itself (its pool's keep-alive); a peer stream has no setTimeout for node:http to arm.
    const server = process
      .getBuiltinModule('node:http')
      .createServer({ maxHeaderSize: MAX_HEAD_BYTES, requestTimeout: 0, headersTimeout: 0 }, (req, res) => this.#handle(req, res));
    server.keepAliveTimeout = 0;
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      o.logger.debug('a forwarded request did not parse', { err });
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      else socket.destroy();
    });
    this.#server = server;
    return server;
  }

  /** Cuts every forwarded stream now. Idempotent. */
  destroy(): void {
    this.#closed = true;
    for (const stream of this.#streams.keys()) abortStream(stream);
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const stream = req.socket;
    const target = this.#streams.get(stream);
    if (target === undefined) return void res.destroy(); // parsed as the stream closed
    target.active++;
    res.once('close', () => {
      if (--target.active === 0 && this.#closed && !stream.destroyed) stream.end();
    });
    void this.#call(target, req, res).catch((err: unknown) => {
      this.#o.logger.debug('a forwarded call failed', { node: target.node, err });
      res.destroy();
    });
  }

  async #call({ node, service }: Target, req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.#closed) return refuse(res, new ProximaError(ErrorCodes.SERVER_DRAINING, 'the instance holding the node is shutting down'));
    const host = this.#o.catalog.hostOn(node, service);
    if (host === undefined) return refuse(res, new ProximaError(ErrorCodes.NODE_OFFLINE, `node ${node} is offline`));
    // The entry gave up (the user left, its clock ran out): the slot, the queue and the node's request go.
    const gone = new Cancel();
    res.once('close', () => {
      if (!res.writableFinished) gone.abort(new ProximaError(ErrorCodes.MUX_STREAM_RESET, 'the entry instance closed the stream'));
    });
    let lease: { release(): void };
    try {
      lease = await this.#o.router.acquireOn(host, { signal: gone });
    } catch (err) {
      return refuse(res, err);
    }
    if (gone.aborted) return lease.release();
    res.once('close', () => lease.release());
    let answer: DispatchResponse;
    try {
      answer = await this.#o.pools.pool(host).request({
        method: req.method ?? 'GET',
        path: req.url ?? '/',
        headers: passed(req.headers),
        body: hasBody(req) ? req : undefined,
        signal: gone,
      });
    } catch (err) {
      return refuse(res, err);
    }
    res.writeHead(answer.statusCode, passed(answer.headers));
    // The head goes at once even when the body is slow to start (a model loading): the entry's
    // keep-alive comments and clocks see what they would see from a node of its own.
    const flush = setImmediate(() => res.flushHeaders());
    const { body } = answer;
    body.once('data', () => clearImmediate(flush));
    body.on('error', () => res.destroy());
    body.pipe(res);
  }
}

/** Answers what this instance refused, for the entry to turn back into the same coded error. */
function refuse(res: ServerResponse, err: unknown): void {
  if (res.headersSent || res.destroyed) return void res.destroy();
  const coded = err instanceof ProximaError ? err : new ProximaError(ErrorCodes.NODE_FAILED, 'the forwarded call failed');
  const message = Buffer.from(coded.message.slice(0, 1024));
  res.writeHead(HTTP_STATUS[coded.code] ?? 502, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': message.length,
    [FORWARD_REFUSED_HEADER]: coded.code,
  });
  res.end(message);
}

function hasBody(req: IncomingMessage): boolean {
  return req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
}

/** The end-to-end headers, as the pool and node:http both take them. */
function passed(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  return out;
}
