/**
 * What a relay holds back once the node's answer has finished (its last events or line, or the
 * closing brace and what follows), until the usage record is on disk. A finished answer has little
 * left to say: its usage, `[DONE]`, a Responses API's `response.completed` (at most one event, itself
 * capped). A node that goes on sending after finishing would grow the tail without end, so past
 * MAX_HELD_TAIL_BYTES the answer is cut as the node's failure.
 */
import { ErrorCodes, ProximaError } from '../../../errors.js';

/** Room for one event at its cap (1 MiB) and the small ones around it, with a margin. */
export const MAX_HELD_TAIL_BYTES = 4 * 1024 * 1024;

/** The held parts of one answer, bounded. */
export class HeldTail {
  #parts: string[] = [];
  /** UTF-16 units so far: at most the UTF-8 bytes' count, at least a third of it; a bound either way. */
  #units = 0;

  push(part: string): void {
    this.#units += part.length;
    if (this.#units > MAX_HELD_TAIL_BYTES) throw tooLong();
    this.#parts.push(part);
  }

  /** Everything held, as bytes, and the tail empty again. */
  take(): Buffer {
    const parts = this.#parts;
    this.#parts = [];
    this.#units = 0;
    return parts.length === 0 ? Buffer.alloc(0) : Buffer.from(parts.join(''), 'utf8');
  }
}

/** A whole answer's held bytes past the bound: the same refusal. */
export function checkHeldBytes(bytes: number): void {
  if (bytes > MAX_HELD_TAIL_BYTES) throw tooLong();
}

function tooLong(): ProximaError {
  return new ProximaError(
    ErrorCodes.NODE_FAILED,
    `the node went on sending after its answer had finished (over ${MAX_HELD_TAIL_BYTES} bytes)`,
  );
}
