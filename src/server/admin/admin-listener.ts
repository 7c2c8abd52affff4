/**
 * The super node's admin listener (admin.listen, 127.0.0.1:7070 by default; `false` turns it off):
 * a plain node:http server, apart from the public port, serving a list of API parts (health checks,
 * /metrics, the dashboard...) through the API router. Bounded like any listener on the network:
 * head size and time, request time, idle keep-alive, connections at once.
 */
import type http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from '../../log.js';
import { SECOND_MS } from '../../time.js';
import { type ApiPart, createApiRouter } from '../api-host/api-router.js';
import type { ServerConfig } from '../config.js';
import type { BoundAddress } from '../public/public-listener.js';

/** What the server needs of its admin listener. */
export interface AdminListenerHandle {
  address(): BoundAddress;
  /** Stops accepting, lets requests in flight finish (bounded), closes idle connections. Idempotent. */
  close(): Promise<void>;
  /** Cuts every connection at once. Idempotent. */
  destroy(): Promise<void>;
}

/** What the admin listener is built from: the parts it serves, asked in order (a path none claims is 404). */
export interface AdminListenerContext {
  config: ServerConfig;
  parts: readonly ApiPart[];
  logger: Logger;
}

/** Starts the admin listener; resolves undefined when admin.listen is false. */
export type AdminListenerFactory = (context: AdminListenerContext) => Promise<AdminListenerHandle | undefined>;

/** Limits of the admin listener: it serves small answers to a few scrapers and browsers. */
export interface AdminListenerLimits {
  maxHeadBytes: number;
  headTimeoutMs: number;
  requestTimeoutMs: number;
  idleTimeoutMs: number;
  maxConnections: number;
  /** How long close() lets requests in flight finish before cutting them. */
  closeTimeoutMs: number;
}

export const DEFAULT_ADMIN_LIMITS: AdminListenerLimits = {
  maxHeadBytes: 16 * 1024,
  headTimeoutMs: 10 * SECOND_MS,
  requestTimeoutMs: 60 * SECOND_MS,
  idleTimeoutMs: 5 * SECOND_MS,
  maxConnections: 256,
  closeTimeoutMs: 5 * SECOND_MS,
};

/** A node:http server on the admin address. */
export class AdminListener implements AdminListenerHandle {
  readonly #server: http.Server;
  readonly #limits: AdminListenerLimits;
  readonly #sockets = new Set<Socket>();
  #bound: BoundAddress | undefined;
  #closed: Promise<void> | undefined;

  constructor(parts: readonly ApiPart[], logger: Logger, limits: Partial<AdminListenerLimits> = {}) {
    const l = { ...DEFAULT_ADMIN_LIMITS, ...limits };
    this.#limits = l;
    // The admin listener is reached directly: the peer is the client, whatever X-Forwarded-For says.
    const router = createApiRouter({ parts, trustProxy: false, logger });
    this.#server = process.getBuiltinModule('node:http').createServer(
      {
        maxHeaderSize: l.maxHeadBytes,
        headersTimeout: l.headTimeoutMs,
        requestTimeout: l.requestTimeoutMs,
        keepAliveTimeout: l.idleTimeoutMs,
      },
      router,
    );
    this.#server.maxConnections = l.maxConnections;
    this.#server.maxRequestsPerSocket = 1000;
    this.#server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    this.#server.on('clientError', (_err, socket: Socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      else socket.destroy();
    });
  }

  /** Listens on `address` (port 0 picks a free one); resolves with the real address. */
  listen(address: BoundAddress): Promise<BoundAddress> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(address.port, address.host, () => {
        this.#server.off('error', reject);
        const info = this.#server.address() as AddressInfo;
        this.#bound = { host: info.address, port: info.port };
        resolve(this.address());
      });
    });
  }

  address(): BoundAddress {
    if (this.#bound === undefined) throw new Error('the admin listener is not listening yet');
    return { ...this.#bound };
  }

  /** Open connections now. */
  get connections(): number {
    return this.#sockets.size;
  }

  close(): Promise<void> {
    if (this.#closed !== undefined) return this.#closed;
    const stopped = this.#stop();
    this.#server.closeIdleConnections();
    const deadline = setTimeout(() => this.#server.closeAllConnections(), this.#limits.closeTimeoutMs);
    this.#closed = stopped.then(() => clearTimeout(deadline));
    return this.#closed;
  }

  destroy(): Promise<void> {
    this.#closed ??= this.#stop();
    this.#server.closeAllConnections();
    for (const socket of this.#sockets) socket.destroy();
    return this.#closed;
  }

  /** Stops accepting; resolves once every connection is gone. */
  #stop(): Promise<void> {
    if (!this.#server.listening) return Promise.resolve();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

/** The `adminListener` factory of ProximaServer.start, as the CLI passes it: admin.listen from the config. */
export const startAdminListener: AdminListenerFactory = async ({ config, parts, logger }) => {
  const { listen } = config.admin;
  if (listen === false) return undefined;
  const listener = new AdminListener(parts, logger.child({ component: 'admin' }));
  await listener.listen(listen);
  return listener;
};
