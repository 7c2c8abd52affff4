/**
 * The super node's own API behind the public listener. A public connection reads and routes each
 * request (only those for the API host come here), bounds its head in size and time, and hands the
 * parsed request and a response of its own straight to the handler (src/server/public/api/api-leg.ts):
 * no node:http in between, no second parse of the head, no parse of the response to find its end.
 * This class is what every such request passes through: the draining switch and a last guard
 * against a handler that throws.
 */
import type { HttpRequest, HttpResponse } from '../../http/exchange.js';
import type { Logger } from '../../log.js';
import { SECOND_MS } from '../../time.js';

/** The API: the control plane's handler for the API host (registration, /v1, /api, /metrics). */
export type ApiHandler = (req: HttpRequest, res: HttpResponse) => unknown;

/** Options of an ApiServer. */
export interface ApiServerOptions {
  api: ApiHandler;
  /**
   * How long the public connection keeps an idle keep-alive connection (http.idleTimeoutMs): what
   * `Keep-Alive: timeout=` tells clients, in whole seconds rounded down, so a client never reuses
   * a connection the listener is about to close. Below a second nothing is advertised.
   */
  idleTimeoutMs: number;
  logger: Logger;
}

/** Serves the API's requests for the public connections. */
export class ApiServer {
  /** What `Keep-Alive: timeout=` says (0: nothing), as node:http's keepAliveTimeout did. */
  readonly keepAliveSeconds: number;
  #draining = false;
  readonly #options: ApiServerOptions;

  constructor(options: ApiServerOptions) {
    this.#options = options;
    this.keepAliveSeconds = options.idleTimeoutMs >= SECOND_MS ? Math.floor(options.idleTimeoutMs / SECOND_MS) : 0;
  }

  /** Answers from now on carry `Connection: close`; the public connections close after them. */
  drain(): void {
    this.#draining = true;
  }

  /** Hands one request to the API. */
  serve(req: HttpRequest, res: HttpResponse): void {
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

  #fail(res: HttpResponse, err: unknown): void {
    this.#options.logger.error('API handler failed', { err });
    if (res.headersSent) res.destroy();
    else {
      res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' });
      res.end('Internal Server Error\n');
    }
  }
}
