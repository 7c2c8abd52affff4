/**
 * The node's HTTP connections to its local Ollama (node:http, keep-alive), always with the Host
 * Ollama accepts: it answers 403 to any other, to stop DNS rebinding. node:http rather than undici:
 * the node loads node:http anyway (the guard serves each stream with it), while undici costs a
 * process about 20 MiB of resident memory (measured with VmRSS around `require('undici')`).
 */
import http, { type IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { HostPort } from '../../config/values.js';
import { ErrorCodes, ProximaError } from '../../errors.js';

/** Where an Ollama listens, and the Host it wants. */
export interface OllamaTarget {
  local: HostPort;
  hostHeader: string;
}

/** One request to Ollama; `headers` must hold no Host and no hop-by-hop fields. */
export interface UpstreamRequest {
  method: string;
  /** Origin-form: `/api/chat?x=y`. */
  path: string;
  headers?: Record<string, string | string[]>;
  body?: Buffer;
  signal?: AbortSignal;
}

/** Ollama's answer: its head, and its body to read (or destroy). */
export interface UpstreamResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: Readable;
}

/** Dialing Ollama may take this long. */
const CONNECT_TIMEOUT_MS = 10_000;

/** `http://host:port`, brackets around an IPv6 address. */
export function originOf(local: HostPort): string {
  return `http://${local.host.includes(':') ? `[${local.host}]` : local.host}:${local.port}`;
}

/** A connection pool to one Ollama. close() lets requests finish; destroy() cuts them; both idempotent. */
export class OllamaUpstream {
  readonly origin: string;
  readonly #local: HostPort;
  readonly #hostHeader: string;
  readonly #agent: http.Agent;
  readonly #inFlight = new Set<http.ClientRequest>();
  #closed = false;
  /** Resolves once no request is in flight after close() (or at destroy()). */
  #idle: (() => void) | undefined;
  readonly #drained = new Promise<void>((resolve) => (this.#idle = resolve));

  /**
   * `keepAlive: false` for a request now and then (the model listing every minute): a kept-alive
   * connection Ollama closed meanwhile (it restarted) would fail the next request on it.
   */
  constructor(target: OllamaTarget, options: { keepAlive?: boolean } = {}) {
    this.#agent = new http.Agent({ keepAlive: options.keepAlive ?? true });
    this.origin = originOf(target.local);
    this.#local = target.local;
    this.#hostHeader = target.hostHeader;
  }

  /**
   * Sends a request; resolves with the response head and a body to read (or destroy, which closes
   * the connection to Ollama when the body is not done). No time limits past the connect: a cold
   * model takes minutes, and the caller aborts through `signal`.
   */
  request(req: UpstreamRequest): Promise<UpstreamResponse> {
    if (this.#closed) return Promise.reject(new ProximaError(ErrorCodes.TARGET_UNREACHABLE, 'the connections to Ollama are closed'));
    const headers: http.OutgoingHttpHeaders = { ...req.headers, host: this.#hostHeader };
    if (req.body !== undefined) headers['content-length'] = req.body.length;
    return new Promise((resolve, reject) => {
      const out = http.request({
        host: this.#local.host,
        port: this.#local.port,
        method: req.method,
        path: req.path,
        headers,
        agent: this.#agent,
        ...(req.signal === undefined ? {} : { signal: req.signal }),
      });
      this.#inFlight.add(out);
      out.once('close', () => {
        this.#inFlight.delete(out);
        if (this.#closed && this.#inFlight.size === 0) this.#idle?.();
      });
      out.once('socket', (socket) => {
        if (!socket.connecting) return;
        const timer = setTimeout(
          () =>
            out.destroy(new ProximaError(ErrorCodes.TARGET_UNREACHABLE, `no connection to ${this.origin} within ${CONNECT_TIMEOUT_MS} ms`)),
          CONNECT_TIMEOUT_MS,
        );
        socket.once('connect', () => clearTimeout(timer));
        socket.once('close', () => clearTimeout(timer));
      });
      out.once('response', (res) => {
        // An error after the head belongs to whoever reads the body; the request's own is then the same one.
        out.on('error', () => undefined);
        resolve({ statusCode: res.statusCode ?? 0, headers: res.headers, body: res });
      });
      out.once('error', reject);
      out.end(req.body);
    });
  }

  /** Lets requests in flight finish, then closes every connection. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#inFlight.size > 0) await this.#drained;
    this.#agent.destroy();
  }

  /** Cuts requests in flight and closes every connection now. */
  async destroy(): Promise<void> {
    this.#closed = true;
    for (const out of this.#inFlight) out.destroy();
    this.#agent.destroy();
    this.#idle?.();
  }
}

/** Reads `body` whole; PRX_ERR_HTTP_BAD_RESPONSE (and the body destroyed) past `maxBytes`. */
export async function readBounded(body: Readable, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      discard(body);
      throw new ProximaError(ErrorCodes.HTTP_BAD_RESPONSE, `Ollama answered more than ${maxBytes} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Stops reading `body` and closes its connection; the error that destroying emits is expected. */
export function discard(body: Readable): void {
  body.on('error', () => undefined);
  body.destroy();
}
