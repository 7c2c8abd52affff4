/**
 * A token bucket per key (a client address): `ratePerMinute` requests a minute on average, up to
 * `burst` at once. Keys live in a bounded LRU map, so a flood of addresses cannot grow memory;
 * an address pushed out of the map starts again with a full bucket.
 */

import { MINUTE_MS } from '../../time.js';
import { LazyLru } from '../lazy-lru.js';

/** How fast and for how many clients. */
export interface RateLimiterOptions {
  ratePerMinute: number;
  /** How many requests may come at once after a quiet spell; defaults to ratePerMinute. */
  burst?: number;
  /** How many keys are remembered. */
  maxKeys?: number;
  /** The clock, in milliseconds. */
  now?: () => number;
}

/** The answer to one request: allowed, or refused with how long to wait. */
export type RateDecision = { allowed: true } | { allowed: false; retryAfterMs: number };

interface Bucket {
  tokens: number;
  updatedMs: number;
}

/** A per-key token bucket. */
export class RateLimiter {
  readonly #perMs: number;
  readonly #burst: number;
  readonly #now: () => number;
  readonly #buckets: LazyLru<string, Bucket>;

  constructor(options: RateLimiterOptions) {
    if (!(options.ratePerMinute > 0)) throw new RangeError('ratePerMinute must be positive');
    this.#perMs = options.ratePerMinute / MINUTE_MS;
    this.#burst = Math.max(1, options.burst ?? options.ratePerMinute);
    this.#now = options.now ?? Date.now;
    this.#buckets = new LazyLru({ max: options.maxKeys ?? 10_000 });
  }

  /** Takes one token from `key`'s bucket if there is one. */
  take(key: string): RateDecision {
    const nowMs = this.#now();
    const bucket = this.#buckets.get(key) ?? { tokens: this.#burst, updatedMs: nowMs };
    const elapsedMs = Math.max(0, nowMs - bucket.updatedMs);
    bucket.tokens = Math.min(this.#burst, bucket.tokens + elapsedMs * this.#perMs);
    bucket.updatedMs = nowMs;
    this.#buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { allowed: true };
    }
    return { allowed: false, retryAfterMs: Math.ceil((1 - bucket.tokens) / this.#perMs) };
  }
}
