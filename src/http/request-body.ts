/**
 * Reading a request body with a size cap and a time limit, for the super node's API handlers:
 * whatever comes from the network is bounded. BodyBuffer, the gathering, serves the node's guard too.
 */

import { ErrorCodes, ProximaError } from '../errors.js';
import type { HttpRequest } from './exchange.js';

/** Limits on a request body. */
export interface BodyLimits {
  maxBodyBytes: number;
  bodyTimeoutMs: number;
}

/**
 * The whole body: PRX_ERR_HTTP_BODY_TOO_LARGE past maxBodyBytes (declared or sent),
 * PRX_ERR_HTTP_BODY_TIMEOUT when it is not all there within bodyTimeoutMs, PRX_ERR_HTTP_BAD_REQUEST
 * when the client goes away first. On failure the request is paused, never read further.
 */
export function readRequestBody(req: HttpRequest, limits: BodyLimits): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limits.maxBodyBytes) return Promise.reject(tooLarge(limits));
  // A declared length is the body's size (node:http enforces it): the chunks are copied into one
  // buffer as they come and dropped, rather than all held until a concat copies them once more.
  const body = new BodyBuffer(Number.isSafeInteger(declared) && declared > 0 ? declared : 0);
  return new Promise((resolve, reject) => {
    const finish = (err: Error | undefined): void => {
      clearTimeout(timer);
      req.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
      if (err !== undefined) {
        req.pause();
        reject(err);
      } else resolve(body.whole());
    };
    const onData = (chunk: Buffer): void => {
      if (body.bytes + chunk.length > limits.maxBodyBytes) finish(tooLarge(limits));
      else body.add(chunk);
    };
    const onEnd = (): void => finish(undefined);
    const onError = (err: Error): void =>
      finish(new ProximaError(ErrorCodes.HTTP_BAD_REQUEST, 'the request body could not be read', { cause: err }));
    // 'close' before 'end': the client went away mid-body.
    const onClose = (): void => finish(new ProximaError(ErrorCodes.HTTP_BAD_REQUEST, 'the client aborted the request'));
    const timer = setTimeout(
      () => finish(new ProximaError(ErrorCodes.HTTP_BODY_TIMEOUT, `the request body took longer than ${limits.bodyTimeoutMs} ms`)),
      limits.bodyTimeoutMs,
    );
    req.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  });
}

/** A body gathered in one buffer of its declared size, or in chunks (chunked encoding) concatenated at the end. */
export class BodyBuffer {
  bytes = 0;
  /** Bytes copied into #sized; past its end (never, while node:http holds the length) chunks are kept. */
  #filled = 0;
  readonly #sized: Buffer | undefined;
  readonly #chunks: Buffer[] = [];

  constructor(declared: number) {
    this.#sized = declared > 0 ? Buffer.allocUnsafe(declared) : undefined;
  }

  add(chunk: Buffer): void {
    if (this.#sized !== undefined && this.#chunks.length === 0 && this.#filled + chunk.length <= this.#sized.length) {
      chunk.copy(this.#sized, this.#filled);
      this.#filled += chunk.length;
    } else this.#chunks.push(chunk);
    this.bytes += chunk.length;
  }

  /** The body; only the bytes received (the rest of an allocated buffer is never shown). */
  whole(): Buffer {
    const head = this.#sized?.subarray(0, this.#filled);
    if (this.#chunks.length === 0) return head ?? Buffer.alloc(0);
    return Buffer.concat(head === undefined ? this.#chunks : [head, ...this.#chunks], this.bytes);
  }
}

function tooLarge(limits: BodyLimits): ProximaError {
  return new ProximaError(ErrorCodes.HTTP_BODY_TOO_LARGE, `the request body is larger than ${limits.maxBodyBytes} bytes`);
}
