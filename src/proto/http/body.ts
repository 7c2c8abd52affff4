/**
 * Body framers: they find where a message body ends without touching it. Each `push(chunk)` says
 * which leading part of the chunk belongs to this message (a subarray, never a copy), whether the
 * message is now complete, and what follows it: the next pipelined message.
 */

import { ChunkedFramer, type ChunkedFramerOptions } from './chunked.js';
import { type HttpSide, REQUEST_SIDE } from './error.js';
import type { BodyChunk, BodyFramer, BodyFraming } from './framing.js';

const EMPTY = Buffer.alloc(0);

/** A body of a known length (Content-Length, or none at all). */
export class LengthFramer implements BodyFramer {
  #remaining: number;

  constructor(length: number) {
    if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`invalid body length ${length}`);
    this.#remaining = length;
  }

  get done(): boolean {
    return this.#remaining === 0;
  }

  /** Bytes of the body still expected. */
  get remainingBytes(): number {
    return this.#remaining;
  }

  push(chunk: Buffer): BodyChunk {
    const take = Math.min(this.#remaining, chunk.length);
    this.#remaining -= take;
    return { bytes: chunk.subarray(0, take), done: this.#remaining === 0, rest: take === chunk.length ? EMPTY : chunk.subarray(take) };
  }
}

/** A response body that runs until the connection closes: every byte belongs to it. */
export class CloseFramer implements BodyFramer {
  readonly done = false;

  push(chunk: Buffer): BodyChunk {
    return { bytes: chunk, done: false, rest: EMPTY };
  }
}

/** Options of createBodyFramer. */
export interface BodyFramerOptions extends ChunkedFramerOptions {
  /** Whose body this is: decides the status a framing error carries (400, or 502 for responses). */
  side?: HttpSide;
}

/** The framer for a body framed as `framing`: none, length, chunked, or close (responses only). */
export function createBodyFramer(framing: BodyFraming | { kind: 'close' }, options: BodyFramerOptions = {}): BodyFramer {
  switch (framing.kind) {
    case 'none':
      return new LengthFramer(0);
    case 'length':
      return new LengthFramer(framing.length);
    case 'chunked':
      return new ChunkedFramer(options.side ?? REQUEST_SIDE, options);
    case 'close':
      return new CloseFramer();
  }
}
