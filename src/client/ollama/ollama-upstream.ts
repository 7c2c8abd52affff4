/**
 * The node's HTTP connections to its local Ollama (undici, keep-alive), always with the Host
 * Ollama accepts: it answers 403 to any other, to stop DNS rebinding.
 */
import type { Readable } from 'node:stream';
import type { Dispatcher, Pool } from 'undici';
import type { HostPort } from '../../config/values.js';
import { ErrorCodes, ProximaError } from '../../errors.js';
import { undici } from '../../http/undici-lazy.js';

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

/** Dialing Ollama may take this long. */
const CONNECT_TIMEOUT_MS = 10_000;

/** `http://host:port`, brackets around an IPv6 address. */
export function originOf(local: HostPort): string {
  return `http://${local.host.includes(':') ? `[${local.host}]` : local.host}:${local.port}`;
}

/** A connection pool to one Ollama. close() lets requests finish; destroy() cuts them; both idempotent. */
export class OllamaUpstream {
  readonly origin: string;
  readonly #hostHeader: string;
  readonly #pool: Pool;

  constructor(target: OllamaTarget) {
    this.origin = originOf(target.local);
    this.#hostHeader = target.hostHeader;
    this.#pool = new (undici().Pool)(this.origin, { connect: { timeout: CONNECT_TIMEOUT_MS } });
  }

  /**
   * Sends a request; resolves with the response head and a body to read (or destroy, which closes
   * the connection to Ollama when the body is not done). No time limits: a cold model takes
   * minutes, and the caller aborts through `signal`.
   */
  request(req: UpstreamRequest): Promise<Dispatcher.ResponseData> {
    return this.#pool.request({
      method: req.method as Dispatcher.HttpMethod,
      path: req.path,
      headers: { ...req.headers, host: this.#hostHeader },
      body: req.body ?? null,
      signal: req.signal ?? null,
      headersTimeout: 0,
      bodyTimeout: 0,
    });
  }

  /** Lets requests in flight finish, then closes every connection. */
  async close(): Promise<void> {
    // undici refuses close() after destroy(); a second close() waits for the first.
    if (!this.#pool.destroyed) await this.#pool.close();
  }

  /** Cuts requests in flight and closes every connection now. */
  async destroy(): Promise<void> {
    await this.#pool.destroy();
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
