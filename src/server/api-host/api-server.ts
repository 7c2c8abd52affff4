/**
 * The super node's own API behind the public listener: a node:http server that never listens
 * itself. A public connection reaches it the way it reaches a node: through a stream, here one end
 * of an in-memory pair whose other end node:http serves. The connection reads and routes each
 * request (only those for the API host come here), bounds its head in size and time, and follows
 * each response to its end, so one mechanism serves nodes and the API, and a connection from a
 * trusted proxy may carry both.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Logger } from '../../log.js';
import { duplexPair } from '../../streams/duplex-pair.js';
import { SECOND_MS } from '../../time.js';
import type { NodeStream, SocketPeer } from '../node-directory.js';

/** The API: the control plane's handler for the API host (registration, /v1, /api, /metrics). */
export type ApiHandler = (req: IncomingMessage, res: ServerResponse) => unknown;

/** Options of an ApiServer. */
export interface ApiServerOptions {
  api: ApiHandler;
  /** The public connection checks this already; node:http must not refuse what it let through. */
  maxHeadBytes: number;
  /**
   * How long the public connection keeps an idle keep-alive connection (http.idleTimeoutMs): what
   * `Keep-Alive: timeout=` tells clients, in whole seconds rounded down, so a client never reuses
   * a connection the listener is about to close. Below a second nothing is advertised.
   */
  idleTimeoutMs: number;
  logger: Logger;
}

/** Resolved for every API stream: there is nothing to dial. */
const OPENED = Promise.resolve();

/** A node:http server fed with in-memory streams by the public connections. */
export class ApiServer {
  readonly #server: http.Server;
  #draining = false;
  readonly #options: ApiServerOptions;

  constructor(options: ApiServerOptions) {
    this.#options = options;
    // No deadlines of its own: heads arrive whole (the public connection timed them), idleness is
    // the public connection's to end, bodies are the handlers' to bound, and streams may be long.
    this.#server = http.createServer({ maxHeaderSize: options.maxHeadBytes, requestTimeout: 0, headersTimeout: 0 }, (req, res) =>
      this.#onRequest(req, res),
    );
    // node:http only advertises this: an in-memory stream has no setTimeout, so node:http never
    // arms it, and the public connection's idle timer is the one that closes (connection-timer.ts).
    this.#server.keepAliveTimeout = options.idleTimeoutMs >= SECOND_MS ? options.idleTimeoutMs : 0;
  }

  /**
   * A stream to the API for a public connection from `peer` (what `req.socket.remoteAddress` says):
   * write requests into it, read responses out of it, end it when done.
   */
  openStream(peer: SocketPeer): NodeStream {
    const [stream, served] = duplexPair();
    served.remoteAddress = peer.address;
    served.remotePort = peer.port;
    this.#server.emit('connection', served);
    return { stream, opened: OPENED };
  }

  /** Answers from now on carry `Connection: close`; the public connections close after them. */
  drain(): void {
    this.#draining = true;
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    if (this.#draining) res.setHeader('Connection', 'close');
    let result: unknown;
    try {
      result = this.#options.api(req, res);
    } catch (err) {
      this.#fail(res, err);
      return;
    }
    if (result instanceof Promise) result.catch((err: unknown) => this.#fail(res, err));
  }

  #fail(res: ServerResponse, err: unknown): void {
    this.#options.logger.error('API handler failed', { err });
    if (res.headersSent) res.destroy();
    else {
      res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' });
      res.end('Internal Server Error\n');
    }
  }
}
