/**
 * A Map that holds at most `max` entries and drops the least recently used beyond that: the bounded
 * tables of the super node (failed credentials per address, rate buckets, login nonces, where each
 * conversation was served, password verdicts, the dashboard's series and sessions). It grows with
 * what it holds. lru-cache, used before, allocates its index arrays for `max` entries when made:
 * ten empty tables of 10,000 held about 2 MiB of an idle super node (docs/performance-notes.md,
 * "Empty tables that were not empty").
 *
 * Entries are a doubly linked list, oldest to newest, beside a Map from key to entry: a read or a
 * write moves its entry to the newest end, and the oldest is dropped past `max`. (A Map's own
 * insertion order would do without the list, but dropping its first key walks past every deleted
 * slot before it: 15 µs a miss in a full table of 10,000, against 0.6-0.8 for lru-cache.) `peek`
 * and `has` do not move an entry. `undefined` is never stored (setting it deletes the key), so
 * `get` returning undefined means absent.
 */

interface Entry<K, V> {
  key: K;
  value: V;
  older: Entry<K, V> | undefined;
  newer: Entry<K, V> | undefined;
}

export class LruMap<K, V> {
  readonly #max: number;
  readonly #map = new Map<K, Entry<K, V>>();
  #oldest: Entry<K, V> | undefined;
  #newest: Entry<K, V> | undefined;

  constructor(max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`an LruMap holds at least 1 entry, not ${max}`);
    this.#max = max;
  }

  /** Entries held. */
  get size(): number {
    return this.#map.size;
  }

  /** The value of `key`, now the most recently used; undefined when absent. */
  get(key: K): V | undefined {
    const entry = this.#map.get(key);
    if (entry === undefined) return undefined;
    if (entry !== this.#newest) {
      this.#unlink(entry);
      this.#append(entry);
    }
    return entry.value;
  }

  /** The value of `key`, its recency unchanged. */
  peek(key: K): V | undefined {
    return this.#map.get(key)?.value;
  }

  /** Whether `key` is held, its recency unchanged. */
  has(key: K): boolean {
    return this.#map.has(key);
  }

  /** Sets `key` (now the most recently used); the least recently used entry goes when there are more than `max`. */
  set(key: K, value: V): this {
    if (value === undefined) {
      this.delete(key);
      return this;
    }
    const entry = this.#map.get(key);
    if (entry !== undefined) {
      entry.value = value;
      if (entry !== this.#newest) {
        this.#unlink(entry);
        this.#append(entry);
      }
      return this;
    }
    const added: Entry<K, V> = { key, value, older: undefined, newer: undefined };
    this.#map.set(key, added);
    this.#append(added);
    if (this.#map.size > this.#max) this.delete(this.#oldest!.key);
    return this;
  }

  /** Removes `key`; whether it was held. */
  delete(key: K): boolean {
    const entry = this.#map.get(key);
    if (entry === undefined) return false;
    this.#map.delete(key);
    this.#unlink(entry);
    return true;
  }

  clear(): void {
    this.#map.clear();
    this.#oldest = this.#newest = undefined;
  }

  /** The entries, least recently used first; deleting the current one while iterating is safe. */
  *entries(): IterableIterator<[K, V]> {
    for (let entry = this.#oldest; entry !== undefined; ) {
      const next = entry.newer;
      yield [entry.key, entry.value];
      entry = next;
    }
  }

  #unlink(entry: Entry<K, V>): void {
    if (entry.older === undefined) this.#oldest = entry.newer;
    else entry.older.newer = entry.newer;
    if (entry.newer === undefined) this.#newest = entry.older;
    else entry.newer.older = entry.older;
    entry.older = entry.newer = undefined;
  }

  #append(entry: Entry<K, V>): void {
    entry.older = this.#newest;
    if (this.#newest === undefined) this.#oldest = entry;
    else this.#newest.newer = entry;
    this.#newest = entry;
  }
}
