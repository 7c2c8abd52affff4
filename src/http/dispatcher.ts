/**
 * What the super node's callers need of an HTTP client to a node: one request, its answer's status,
 * headers and body. The shape is the part of undici's `Dispatcher.request` the API used, so the
 * callers did not change when its own HTTP/1.1 client (h1-pool.ts) replaced undici's Pool.
 */
import type { Readable } from 'node:stream';
import type { CancelSignal } from '../cancel.js';

/** Header values as callers give them: several values of one field as an array. */
export type OutgoingHeaders = Record<string, string | string[]>;

/** One request. */
export interface DispatchRequest {
  method: string;
  /** The request target: an absolute path with its query. */
  path: string;
  headers?: OutgoingHeaders;
  /**
   * A whole body (sent with the head in one write, Content-Length set), or a stream of it (sent
   * with the caller's Content-Length when the headers carry one, else chunked).
   */
  body?: Buffer | string | Readable;
  /** Aborting it rejects the request, or errors the answer's body, and resets the stream (an AbortSignal or a Cancel). */
  signal?: CancelSignal;
}

/** An answer: its final status (1xx heads are skipped), headers by lower-case name, and its body. */
export interface DispatchResponse {
  statusCode: number;
  /** A field sent on several lines is an array. */
  headers: Record<string, string | string[]>;
  /**
   * The body as sent, chunked coding removed. It ends when the answer is complete and errors when
   * the stream fails first; destroying it before its end resets the stream.
   */
  body: Readable;
}

/** Sends requests to one service of one node. */
export interface Dispatcher {
  request(request: DispatchRequest): Promise<DispatchResponse>;
}
