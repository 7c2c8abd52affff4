/**
 * The public HTTP listener of the super node (default :8080; TLS, when wanted, is nginx's job in
 * front of it). A raw TCP server: each request is read by our own strict HTTP/1.1 code and routed
 * by Host to a node's service through the tunnel, or to the API server. Caps concurrent
 * connections, drains on close, and counts connections for metrics.
 */
import net, { type AddressInfo, type Socket } from 'node:net';
import { trustedProxies } from '../../config/access.js';
import { type Logger, silentLogger } from '../../log.js';
import { type AcceptOptions, tuneAcceptPath } from '../../runtime/index.js';
import { LiveList } from '../../streams/live-list.js';
import { ServiceGate } from '../access/service-gate.js';
import { type ApiHandler, ApiServer } from '../api-host/api-server.js';
import { DEFAULT_SERVER_CONFIG, type HttpConfig, type ServerConfig } from '../config.js';
import type { Ledger } from '../ledger/ledger.js';
import type { NodeDirectory } from '../node-directory.js';
import type { RequestObserver } from '../observe/request-observer.js';
import type { ConnectionSettings } from './connection-legs.js';
import { PublicConnection } from './public-connection.js';

/** A host and a port as bound. */
export interface BoundAddress {
  host: string;
  port: number;
}

/** What the super node needs of its public HTTP listener. */
export interface PublicListenerHandle {
  address(): BoundAddress;
  /** Stops accepting and lets requests in flight finish (bounded by http.drainTimeoutMs). */
  close(): Promise<void>;
  destroy(err?: Error): Promise<void>;
  /** Counts for metrics (`open`: connections open now). */
  stats?(): Pick<PublicListenerStats, 'open'>;
}

/** What the public listener is built from. */
export interface PublicListenerContext {
  config: ServerConfig;
  directory: NodeDirectory;
  /** For requests to the API host (the bare domain, `api.<domain>`, an IP address). */
  api: ApiHandler;
  /** Where the API appends one record per routed request. */
  ledger: Ledger;
  logger: Logger;
  /** Hears each finished tunnel request (metrics, access log); absent when nothing observes. */
  observer?: RequestObserver;
}

export type PublicListenerFactory = (context: PublicListenerContext) => Promise<PublicListenerHandle>;

/** Options of a PublicListener; the `http.*` settings of server.yaml spread in as they are. */
export interface PublicListenerOptions extends Partial<Omit<HttpConfig, 'listen'>> {
  /** Nodes are at `<node>.<domain>` and `<service>--<node>.<domain>`. */
  domain: string;
  directory: NodeDirectory;
  /** Serves requests for the API host (the bare domain, `api.<domain>`, any other host). */
  api: ApiHandler;
  logger?: Logger;
  observer?: RequestObserver;
}

/** Connection counts, for metrics. */
export interface PublicListenerStats {
  /** Open now: tenant, API and upgraded connections together. */
  open: number;
  /** Open now and serving the API (their latest request was for the API host). */
  api: number;
  /** Open now and upgraded to a raw two-way pipe (WebSocket). */
  upgraded: number;
  /** Accepted since start. */
  accepted: number;
  /** Refused since start because `maxConnections` were open. */
  dropped: number;
}

/** Bytes a public socket buffers before write() says to wait (its high-water mark, both ways). */
export const PUBLIC_SOCKET_BUFFER_BYTES = 256 * 1024;

/**
 * The public sockets' settings. Half-open allowed: a client may send its request and FIN, and still
 * wait for the answer. A 64 KiB chunk from the tunnel would overrun the default 16 KiB high-water
 * mark and pause the tunnel stream after every chunk; 256 KiB lets a chunk or four wait in the
 * socket instead.
 */
const ACCEPT: AcceptOptions = { allowHalfOpen: true, noDelay: true, highWaterMark: PUBLIC_SOCKET_BUFFER_BYTES };

/** The public listener. `listen()`, then `close()` (drain) or `destroy()`. */
export class PublicListener {
  readonly #server: net.Server;
  readonly #api: ApiServer;
  readonly #settings: ConnectionSettings;
  readonly #drainTimeoutMs: number;
  readonly #connections = new LiveList<PublicConnection>();
  #accepted = 0;
  #dropped = 0;
  #closing = false;
  #closed: Promise<void> | undefined;
  #bound: BoundAddress | undefined;
  /** Called when the last connection has closed, while stopping. */
  #onEmpty: (() => void) | undefined;

  constructor(options: PublicListenerOptions) {
    const o = { ...DEFAULT_SERVER_CONFIG.http, ...definedOnly(options) };
    const logger = options.logger ?? silentLogger;
    this.#drainTimeoutMs = o.drainTimeoutMs;
    this.#api = new ApiServer({ api: o.api, idleTimeoutMs: o.idleTimeoutMs, logger });
    this.#settings = {
      domain: o.domain,
      directory: o.directory,
      trustedProxies: trustedProxies(o.trustProxy),
      gate: new ServiceGate(),
      maxHeadBytes: o.maxHeadBytes,
      headTimeoutMs: o.headTimeoutMs,
      idleTimeoutMs: o.idleTimeoutMs,
      bodyTimeoutMs: o.bodyTimeoutMs,
      logger,
      api: this.#api,
      observer: options.observer,
    };
    this.#server = net.createServer(ACCEPT, (socket) => this.#onConnection(socket));
    this.#server.maxConnections = o.maxConnections;
    this.#server.on('drop', () => this.#dropped++);
    // After listen(): accept failures (EMFILE, say) are reported here; the listener carries on.
    this.#server.on('error', (err) => logger.error('public listener error', { err }));
  }

  /** Listens on `host:port` (port 0: any free port); resolves with the address bound. */
  listen(address: BoundAddress = { host: '127.0.0.1', port: 0 }): Promise<BoundAddress> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(address.port, address.host, () => {
        this.#server.off('error', reject);
        tuneAcceptPath(this.#server, ACCEPT);
        const info = this.#server.address() as AddressInfo;
        this.#bound = { host: info.address, port: info.port };
        resolve(this.address());
      });
    });
  }

  /** The address bound (the real port when 0 was asked for); still known after close. */
  address(): BoundAddress {
    if (this.#bound === undefined) throw new Error('the public listener is not listening yet');
    return { ...this.#bound };
  }

  /** Counts for metrics. */
  stats(): PublicListenerStats {
    let upgraded = 0;
    let api = 0;
    for (const c of this.#connections.list()) {
      if (c.state === 'piping') upgraded++;
      else if (c.onApi) api++;
    }
    return { open: this.#connections.size, api, upgraded, accepted: this.#accepted, dropped: this.#dropped };
  }

  /**
   * Stops accepting, lets requests in flight finish (their connections close after them), closes
   * idle connections at once, and cuts whatever is left after `drainTimeoutMs`. Idempotent.
   */
  close(): Promise<void> {
    if (this.#closed !== undefined) return this.#closed;
    this.#closing = true;
    const done = this.#stopServer();
    for (const connection of this.#connections.list()) connection.drain();
    this.#api.drain();
    const deadline = setTimeout(() => void this.destroy(), this.#drainTimeoutMs);
    this.#closed = done.then(() => clearTimeout(deadline));
    return this.#closed;
  }

  /** Cuts every connection at once; resolves when all are closed. Idempotent. */
  destroy(): Promise<void> {
    this.#closing = true;
    this.#closed ??= this.#stopServer();
    for (const connection of this.#connections.list()) connection.destroy();
    return this.#closed;
  }

  #onConnection(socket: Socket): void {
    this.#accepted++;
    const connection = new PublicConnection(socket, this.#settings);
    const entry = this.#connections.add(connection);
    socket.once('close', () => {
      this.#connections.delete(entry);
      if (this.#connections.size === 0) this.#onEmpty?.();
    });
    if (this.#closing) connection.drain();
  }

  /**
   * Stops accepting; resolves once the server is closed and every connection has emitted 'close'
   * (the server's own 'close' comes a turn before its last socket's).
   */
  async #stopServer(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    if (this.#connections.size > 0) await new Promise<void>((resolve) => (this.#onEmpty = resolve));
  }
}

/** The options without keys set to undefined, so they do not override defaults. */
function definedOnly<T extends object>(options: T): T {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as T;
}

/**
 * Builds and starts the public listener of a super node from its config: the `publicListener`
 * factory of ProximaServer.start.
 */
export async function startPublicListener({ config, directory, api, logger, observer }: PublicListenerContext): Promise<PublicListener> {
  const { listen, ...http } = config.http;
  const listener = new PublicListener({ ...http, domain: config.domain, directory, api, logger, observer });
  await listener.listen(listen);
  return listener;
}
