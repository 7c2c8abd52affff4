/**
 * The super node's own API behind the public listener: a node:http server that never listens
 * itself. The listener hands it each connection whose first request is for the API host, with the
 * bytes already read; later requests on that connection are parsed by Node, and any that names a
 * tenant's host gets 421, so no connection reaches a node through the API or the other way round.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { ErrorCodes, ProximaError } from '../errors.js';
import type { Logger } from '../log.js';
import { parseHostPort } from '../proto/http-host.js';
import { ERROR_CODE_HEADER } from '../proto/http-error-response.js';
import { describeError } from './error-page.js';
import { routeHost } from './host-route.js';

/** The API: the control plane's handler for the API host (registration, /v1, /api, /metrics). */
export type ApiHandler = (req: IncomingMessage, res: ServerResponse) => unknown;

/** Options of an ApiServer. */
export interface ApiServerOptions {
  domain: string;
  api: ApiHandler;
  maxHeadBytes: number;
  headTimeoutMs: number;
  idleTimeoutMs: number;
  logger: Logger;
}

/** Node checks header deadlines on this period; a short head timeout needs a shorter one. */
const MAX_CHECK_INTERVAL_MS = 1_000;

/** A node:http server fed with connections by the public listener. */
export class ApiServer {
  readonly server: http.Server;
  private draining = false;
  private readonly options: ApiServerOptions;

  constructor(options: ApiServerOptions) {
    this.options = options;
    this.server = http.createServer({
      maxHeaderSize: options.maxHeadBytes,
      headersTimeout: options.headTimeoutMs,
      // Bodies are the API's to bound (each handler reads with its own limits); streams may be long.
      requestTimeout: 0,
      keepAliveTimeout: options.idleTimeoutMs,
      connectionsCheckingInterval: Math.min(MAX_CHECK_INTERVAL_MS, options.headTimeoutMs),
      noDelay: true,
    }, (req, res) => this.onRequest(req, res));
    // Node starts its header-deadline checks on 'listening'; this server never listens itself.
    this.server.emit('listening');
  }

  /** Takes over `socket`, whose first `bytes` (a complete request head at least) were already read. */
  adopt(socket: Socket, bytes: Buffer): void {
    socket.pause();
    socket.unshift(bytes);
    this.server.emit('connection', socket);
    socket.resume();
  }

  /** Answers what is in flight with `Connection: close` and closes idle connections. */
  drain(): void {
    this.draining = true;
    this.server.closeIdleConnections();
  }

  /** Stops Node's deadline checks; connections are the listener's to close. */
  close(): void {
    this.server.close();
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    if (this.draining) res.setHeader('Connection', 'close');
    // A request that was in flight when draining began leaves an idle connection behind it.
    res.once('finish', () => {
      if (this.draining) setImmediate(() => this.server.closeIdleConnections());
    });
    const host = safeHostname(req.headers.host);
    if (routeHost(host, this.options.domain).kind !== 'api') {
      this.answer(res, new ProximaError(ErrorCodes.HTTP_MISDIRECTED, `a request for ${host} on an API connection`), host);
      return;
    }
    let result: unknown;
    try {
      result = this.options.api(req, res);
    } catch (err) {
      this.fail(res, err);
      return;
    }
    if (result instanceof Promise) result.catch((err: unknown) => this.fail(res, err));
  }

  private answer(res: ServerResponse, err: ProximaError, host: string | undefined): void {
    const { status, code, text } = describeError(err, { host, boundHost: `the API (${this.options.domain})` });
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close', [ERROR_CODE_HEADER]: code });
    res.end(text);
  }

  private fail(res: ServerResponse, err: unknown): void {
    this.options.logger.error('API handler failed', { err });
    if (res.headersSent) res.destroy();
    else {
      res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' });
      res.end('Internal Server Error\n');
    }
  }
}

/** The hostname of a Host header as the router reads it; undefined when absent or malformed. */
function safeHostname(host: string | undefined): string | undefined {
  if (host === undefined) return undefined;
  try {
    return parseHostPort(host).hostname;
  } catch {
    return undefined;
  }
}
