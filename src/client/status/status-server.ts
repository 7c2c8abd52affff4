/**
 * The node's local status page: an HTTP listener (loopback by default) serving the page, its script
 * and style, and GET /api/status (the JSON the page and `proxima-client status` read). A taken port
 * moves it to the next one, up to {@link PORT_TRIES} ports, as ngrok's inspector does; past those the
 * node runs without it. Only requests whose Host names this listener are answered, so a web page
 * elsewhere cannot read it through DNS rebinding.
 */
import http from 'node:http';
import { type AddressInfo, isIP } from 'node:net';
import type { Logger } from '../../log.js';
import type { StatusSnapshot } from './node-status.js';
import { CONTENT_SECURITY_POLICY, renderPage, STATUS_SCRIPT, STATUS_STYLE } from './status-page.js';

/** Ports tried: the configured one and the next nine (4040 to 4049 by default). */
export const PORT_TRIES = 10;

export interface StatusServerOptions {
  host: string;
  port: number;
  snapshot: () => Promise<StatusSnapshot>;
  logger: Logger;
}

const HEADERS = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

/** The listening status page. */
export class StatusServer {
  readonly #server: http.Server;
  readonly #address: { host: string; port: number };

  private constructor(server: http.Server, address: { host: string; port: number }) {
    this.#server = server;
    this.#address = address;
  }

  /**
   * Listens on `host:port`, or the next free port of the {@link PORT_TRIES}; undefined (with a
   * warning) when none is free. Port 0 takes any free port.
   */
  static async listen(options: StatusServerOptions): Promise<StatusServer | undefined> {
    const tries = options.port === 0 ? 1 : Math.min(PORT_TRIES, 65536 - options.port);
    for (let i = 0; i < tries; i++) {
      const server = http.createServer();
      const bound = await new Promise<boolean>((resolve, reject) => {
        server.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' ? resolve(false) : reject(err)));
        server.listen(options.port + i, options.host, () => resolve(true));
      }).catch((err: Error) => {
        options.logger.warn('the status page cannot listen; going on without it', { host: options.host, port: options.port + i, err });
        return undefined;
      });
      if (bound === undefined) return undefined;
      if (!bound) continue;
      const info = server.address() as AddressInfo;
      const status = new StatusServer(server, { host: info.address, port: info.port });
      server.on('request', (req, res) => void status.#serve(req, res, options.snapshot));
      const url = status.url;
      options.logger.info(`status page at ${url}`, { statusUrl: url, status: { host: info.address, port: info.port } });
      return status;
    }
    options.logger.warn(`the status page's ports ${options.port} to ${options.port + tries - 1} are all taken; going on without it`, {
      host: options.host,
    });
    return undefined;
  }

  /** The address bound. */
  address(): { host: string; port: number } {
    return { ...this.#address };
  }

  /** `http://host:port`, the address as a browser takes it. */
  get url(): string {
    const { host, port } = this.#address;
    return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  }

  /** Stops listening and closes every connection. Idempotent. */
  async close(): Promise<void> {
    if (!this.#server.listening) return;
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  async #serve(req: http.IncomingMessage, res: http.ServerResponse, snapshot: () => Promise<StatusSnapshot>): Promise<void> {
    if (!this.#hostAllowed(req.headers.host)) return send(res, 403, 'text/plain', 'this status page answers only to its own address\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'only GET\n');
    const path = (req.url ?? '/').split('?')[0];
    try {
      if (path === '/') return send(res, 200, 'text/html; charset=utf-8', renderPage(await snapshot()));
      if (path === '/api/status') return send(res, 200, 'application/json', JSON.stringify(await snapshot()));
      if (path === '/status.js') return send(res, 200, 'text/javascript; charset=utf-8', STATUS_SCRIPT);
      if (path === '/status.css') return send(res, 200, 'text/css; charset=utf-8', STATUS_STYLE);
      send(res, 404, 'text/plain', 'not found\n');
    } catch {
      send(res, 500, 'text/plain', 'the status could not be read\n');
    }
  }

  /** `localhost` or an IP address, with this port: a DNS name could be a rebinding attack's. */
  #hostAllowed(host: string | undefined): boolean {
    const m = /^(\[[0-9a-f:.]+\]|[^:]+):(\d+)$/i.exec(host ?? '');
    if (m === null || Number(m[2]) !== this.#address.port) return false;
    const name = m[1]!.replace(/^\[|\]$/g, '').toLowerCase();
    return name === 'localhost' || isIP(name) !== 0;
  }
}

function send(res: http.ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { ...HEADERS, 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
