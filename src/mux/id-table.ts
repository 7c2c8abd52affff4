/**
 * Values by stream id in arrays that stay in place, where a `Map` would keep replacing its own.
 *
 * A `Map` that keeps taking and dropping entries rebuilds its backing table every few dozen
 * insertions, and V8 leaves the table it replaced untouched (iterators may still walk it). Once
 * such a table has lived long enough to reach the old generation, each young-generation collection
 * takes every value it still names for live, so streams closed long ago are copied and then
 * promoted until the next full collection. Here a slot is emptied when its value is deleted, and
 * the arrays are replaced only when the table doubles (from 64 slots to 8,192 for 4,096 streams).
 *
 * Open addressing with linear probing; a deletion shifts the entries after it back, so no
 * tombstones pile up and the table never needs rebuilding to get rid of them.
 */

/** Id 0 is the session's own (yamux), never a stream's: it marks an empty slot. */
const EMPTY = 0;

export class IdTable<T> {
  #keys!: Uint32Array;
  #values!: (T | undefined)[];
  #mask!: number;
  #shift!: number;
  #count!: number;

  constructor(initialCapacity = 64) {
    this.#allocate(Math.max(2, Math.ceil(Math.log2(initialCapacity))));
  }

  get size(): number {
    return this.#count;
  }

  get(id: number): T | undefined {
    for (let i = this.#home(id); ; i = (i + 1) & this.#mask) {
      const key = this.#keys[i]!;
      if (key === id) return this.#values[i];
      if (key === EMPTY) return undefined;
    }
  }

  has(id: number): boolean {
    return this.get(id) !== undefined;
  }

  /** Sets the value of `id` (1 to 2^32 - 1). `value` must not be undefined. */
  set(id: number, value: T): void {
    if (id === EMPTY || id !== id >>> 0) throw new RangeError(`not a stream id: ${id}`);
    if ((this.#count + 1) * 2 > this.#keys.length) this.#grow();
    let i = this.#home(id);
    while (this.#keys[i] !== EMPTY && this.#keys[i] !== id) i = (i + 1) & this.#mask;
    if (this.#keys[i] === EMPTY) this.#count++;
    this.#keys[i] = id;
    this.#values[i] = value;
  }

  /** Removes `id`; true when it was there. */
  delete(id: number): boolean {
    let i = this.#home(id);
    while (this.#keys[i] !== id) {
      if (this.#keys[i] === EMPTY) return false;
      i = (i + 1) & this.#mask;
    }
    // Shift back each later entry of the run that may sit at `i`, its home being at or before it.
    for (let j = (i + 1) & this.#mask; this.#keys[j] !== EMPTY; j = (j + 1) & this.#mask) {
      const home = this.#home(this.#keys[j]!);
      if (((j - home) & this.#mask) >= ((j - i) & this.#mask)) {
        this.#keys[i] = this.#keys[j]!;
        this.#values[i] = this.#values[j];
        i = j;
      }
    }
    this.#keys[i] = EMPTY;
    this.#values[i] = undefined;
    this.#count--;
    return true;
  }

  /** The values now in the table, as a new array: safe to change the table while going through it. */
  list(): T[] {
    const out: T[] = [];
    for (let i = 0; i < this.#keys.length; i++) if (this.#keys[i] !== EMPTY) out.push(this.#values[i]!);
    return out;
  }

  clear(): void {
    this.#keys.fill(EMPTY);
    this.#values.fill(undefined);
    this.#count = 0;
  }

  /** Fibonacci hashing: consecutive ids (each side's step by two) spread over the table. */
  #home(id: number): number {
    return Math.imul(id, 0x9e3779b1) >>> this.#shift;
  }

  /** Empty arrays of 2^bits slots. */
  #allocate(bits: number): void {
    this.#keys = new Uint32Array(1 << bits);
    this.#values = Array.from({ length: 1 << bits }, () => undefined);
    this.#mask = (1 << bits) - 1;
    this.#shift = 32 - bits;
    this.#count = 0;
  }

  #grow(): void {
    const keys = this.#keys;
    const values = this.#values;
    this.#allocate(32 - this.#shift + 1);
    for (let i = 0; i < keys.length; i++) if (keys[i] !== EMPTY) this.set(keys[i]!, values[i]!);
    values.fill(undefined); // the dropped array may already be old: it must not keep streams alive
  }
}
