/**
 * The request and response the super node's API handlers use: the subset of node:http's
 * IncomingMessage and ServerResponse they touch, so that node:http's objects (the admin listener,
 * the node's guard) and the public connection's own (src/http/served-request.ts and
 * served-response.ts, without node:http in between) both fit.
 */
import type { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders, OutgoingHttpHeader, OutgoingHttpHeaders } from 'node:http';
import type { Duplex, Readable } from 'node:stream';

/** A request: its head as node:http shapes it, its body as a Readable. */
export interface HttpRequest extends Readable {
  readonly method?: string | undefined;
  readonly url?: string | undefined;
  /** Lower-case names; repeated fields joined as node:http joins them (see served-request.ts). */
  readonly headers: IncomingHttpHeaders;
  /** The peer of the connection the request came on (a trusted proxy's, behind one). */
  readonly socket: { readonly remoteAddress?: string | undefined };
}

/** A response: node:http's ServerResponse methods and state that the handlers use. */
export interface HttpResponse extends EventEmitter {
  statusCode: number;
  /** True once the head is decided (writeHead, or a first write or end). */
  readonly headersSent: boolean;
  readonly destroyed: boolean;
  readonly writableEnded: boolean;
  readonly writableFinished: boolean;
  /** True once 'close' was emitted. */
  readonly closed: boolean;
  /** The socket to cut a whole answer with (abortStream); null when `destroy()` is the way to cut. */
  readonly socket: Duplex | null;
  setHeader(name: string, value: number | string | readonly string[]): this;
  getHeader(name: string): number | string | string[] | undefined;
  hasHeader(name: string): boolean;
  removeHeader(name: string): void;
  writeHead(status: number, headers?: OutgoingHttpHeaders | OutgoingHttpHeader[]): this;
  writeHead(status: number, reason: string, headers?: OutgoingHttpHeaders | OutgoingHttpHeader[]): this;
  /** False when the user's socket is full: wait for 'drain'. */
  write(chunk: string | Uint8Array): boolean;
  end(chunk?: string | Uint8Array): this;
  flushHeaders(): void;
  /** Cuts the connection: the user sees a reset, or an error page when nothing was sent yet. */
  destroy(error?: Error): this;
}
