/**
 * The bytes a relay passes on for one chunk of a node's answer, gathered without copying what need
 * not be. Events and lines passed on as the node sent them are slices of the chunk, one after the
 * other, and adjacent slices become one slice again: a chunk of forty whole events goes out as one
 * view of the chunk. Only what is written anew, or what has bytes dropped between, makes a join.
 */
const EMPTY = Buffer.alloc(0);

export class OutBytes {
  readonly #parts: Buffer[] = [];
  /** The first slice of the run of adjacent slices being gathered, and where the run ends. */
  #run: Buffer | undefined;
  #runEnd = 0;

  add(bytes: Buffer): void {
    if (bytes.length === 0) return;
    const run = this.#run;
    if (run !== undefined && bytes.buffer === run.buffer && bytes.byteOffset === this.#runEnd) {
      this.#runEnd += bytes.length;
      return;
    }
    this.#close();
    this.#run = bytes;
    this.#runEnd = bytes.byteOffset + bytes.length;
  }

  /** All that was added, as one buffer (a view when it was one run); empty again after. */
  take(): Buffer {
    this.#close();
    const parts = this.#parts;
    if (parts.length === 0) return EMPTY;
    const out = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    parts.length = 0;
    return out;
  }

  #close(): void {
    const run = this.#run;
    if (run === undefined) return;
    const length = this.#runEnd - run.byteOffset;
    this.#parts.push(length === run.length ? run : Buffer.from(run.buffer, run.byteOffset, length));
    this.#run = undefined;
  }
}
