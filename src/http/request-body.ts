/**
 * Reading a request body on node:http with a size cap and a time limit, for the super node's small
 * APIs and for the node's guard in front of Ollama alike: whatever comes from the network is bounded.
 */
import type { IncomingMessage } from 'node:http';
import { ErrorCodes, ProximaError } from '../errors.js';

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
export function readRequestBody(req: IncomingMessage, limits: BodyLimits): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limits.maxBodyBytes) return Promise.reject(tooLarge(limits));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    const finish = (err: Error | undefined): void => {
      clearTimeout(timer);
      req.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
      if (err !== undefined) {
        req.pause();
        reject(err);
      } else resolve(Buffer.concat(chunks));
    };
    const onData = (chunk: Buffer): void => {
      bytes += chunk.length;
      if (bytes > limits.maxBodyBytes) finish(tooLarge(limits));
      else chunks.push(chunk);
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

function tooLarge(limits: BodyLimits): ProximaError {
  return new ProximaError(ErrorCodes.HTTP_BODY_TOO_LARGE, `the request body is larger than ${limits.maxBodyBytes} bytes`);
}
