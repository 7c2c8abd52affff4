/**
 * An lru-cache table made at its first write. lru-cache allocates its key and value lists and its
 * index arrays for `max` entries when it is made, and the super node makes its bounded tables at start
 * (failed credentials per address, rate buckets, login nonces, where each conversation was served,
 * password verdicts, the dashboard's series and sessions), most of 10,000 entries and all empty:
 * twenty arrays of 80 KB and half a MiB of typed arrays in an idle super node's heap
 * (docs/performance-notes.md, "Empty tables that were not empty"). Until the first `set`, the reads
 * answer as an empty table does.
 */
import { LRUCache } from 'lru-cache';

export class LazyLru<K extends {}, V extends {}> {
  readonly #options: LRUCache.Options<K, V, unknown>;
  #cache: LRUCache<K, V> | undefined;

  constructor(options: LRUCache.Options<K, V, unknown>) {
    this.#options = options;
  }

  get size(): number {
    return this.#cache?.size ?? 0;
  }

  get(key: K): V | undefined {
    return this.#cache?.get(key);
  }

  has(key: K): boolean {
    return this.#cache?.has(key) ?? false;
  }

  /** The value without making it the most recently used. */
  peek(key: K): V | undefined {
    return this.#cache?.peek(key);
  }

  set(key: K, value: V, options?: LRUCache.SetOptions<K, V, unknown>): this {
    this.#cache ??= new LRUCache<K, V>(this.#options);
    this.#cache.set(key, value, options);
    return this;
  }

  delete(key: K): boolean {
    return this.#cache?.delete(key) ?? false;
  }

  clear(): void {
    this.#cache?.clear();
  }

  /** Entries, most recently used first. */
  *entries(): Generator<[K, V]> {
    if (this.#cache !== undefined) yield* this.#cache.entries();
  }
}
