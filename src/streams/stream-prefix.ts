/**
 * Reads a small header off the front of a stream (the `open` or `opened` message of a tunnel
 * stream) and leaves everything after it in the stream, so the next reader sees only what follows.
 */
import type { Duplex } from 'node:stream';

/** Takes bytes as they arrive; returns the header and the bytes after it once it is complete. */
export type PrefixTaker<T> = (chunk: Buffer) => { value: T; rest: Buffer } | undefined;

/** Options of readPrefix. */
export interface ReadPrefixOptions {
  /** How long the whole header may take. */
  timeoutMs: number;
  /** The error to reject with when it takes longer. */
  timeoutError: () => Error;
  /** The error to reject with when the stream ends or closes first. */
  endedError: (cause: Error | undefined) => Error;
}

/**
 * Feeds the stream's bytes to `take` until it returns a value, then puts the bytes after the header
 * back at the front of the stream (`unshift`, before 'end' can be emitted) and resolves. Rejects on
 * timeout, on end or close before the header, or when `take` throws; the stream is left as it is
 * (the caller decides whether to answer or destroy it). No timer or listener outlives the call.
 */
export function readPrefix<T>(stream: Duplex, take: PrefixTaker<T>, options: ReadPrefixOptions): Promise<T> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let lastError: Error | undefined;
    const settle = (err: Error | undefined, value?: T): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      stream.off('readable', onReadable).off('end', onEnd).off('close', onEnd).off('error', onError);
      if (err === undefined) resolve(value as T);
      else reject(err);
    };
    const onReadable = (): void => {
      let chunk: Buffer | null;
      while (!settled && (chunk = stream.read() as Buffer | null) !== null) {
        let got: { value: T; rest: Buffer } | undefined;
        try {
          got = take(chunk);
        } catch (err) {
          settle(err as Error);
          return;
        }
        if (got === undefined) continue;
        if (got.rest.length > 0) stream.unshift(got.rest);
        settle(undefined, got.value);
      }
    };
    const onEnd = (): void => settle(options.endedError(lastError));
    const onError = (err: Error): void => {
      lastError = err;
    };
    const timer = setTimeout(() => settle(options.timeoutError()), options.timeoutMs);
    stream.on('error', onError).on('readable', onReadable).once('end', onEnd).once('close', onEnd);
    if (stream.destroyed) onEnd();
  });
}
