/**
 * The super node's own requests to a node (probes, canaries, reference answers): sent through the
 * API's pool for that node's service, bounded in time and size, read whole.
 */
import type { Readable } from 'node:stream';
import { ErrorCodes, ProximaError } from '../../errors.js';
import type { Dispatcher } from '../../http/dispatcher.js';
import { SUPER_NODE_USER_AGENT } from '../models/model-request.js';

/** One request of the super node's own. */
export interface OwnRequest {
  method: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  body?: Buffer;
  /** The answer must be read whole within this. */
  timeoutMs: number;
  /** A larger answer fails. */
  maxBytes: number;
  /** Aborts it (the super node is stopping). */
  signal?: AbortSignal;
}

/** A node's answer, read whole. */
export interface NodeAnswer {
  status: number;
  body: Buffer;
  /** Request sent to the answer's head, in ms (Ollama sends the head with the first token). */
  ttftMs: number;
  /** Request sent to last byte read, in ms. */
  latencyMs: number;
}

/**
 * Sends `request` on `pool` and reads the answer; rejects with PRX_ERR_NODE_TIMEOUT past the
 * timeout, PRX_ERR_HTTP_BODY_TOO_LARGE past `maxBytes`, PRX_ERR_NODE_FAILED when the stream fails.
 */
export async function askNode(pool: Dispatcher, request: OwnRequest): Promise<NodeAnswer> {
  const startMs = performance.now();
  const timeout = AbortSignal.timeout(request.timeoutMs);
  const signal = request.signal === undefined ? timeout : AbortSignal.any([timeout, request.signal]);
  try {
    const response = await pool.request({
      method: request.method,
      path: request.path,
      body: request.body,
      signal,
      headers: {
        'user-agent': SUPER_NODE_USER_AGENT,
        ...(request.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...request.headers,
      },
    });
    const ttftMs = performance.now() - startMs;
    const body = await readWhole(response.body, request.maxBytes);
    return { status: response.statusCode, body, ttftMs, latencyMs: performance.now() - startMs };
  } catch (err) {
    if (err instanceof ProximaError) throw err;
    if (timeout.aborted)
      throw new ProximaError(ErrorCodes.NODE_TIMEOUT, `no whole answer to ${request.path} within ${request.timeoutMs} ms`, { cause: err });
    throw new ProximaError(ErrorCodes.NODE_FAILED, `${request.path} failed: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
}

async function readWhole(body: Readable, maxBytes: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    if (bytes > maxBytes) {
      body.on('error', () => undefined);
      body.destroy();
      throw new ProximaError(ErrorCodes.HTTP_BODY_TOO_LARGE, `the answer is over ${maxBytes} bytes`);
    }
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}
