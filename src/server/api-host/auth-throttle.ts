/**
 * Failed credentials, counted per client address: API keys, the admin token and node tokens each
 * have one. The first few failures are answered at once; after `freeFailures` each answer is held
 * back a little longer (`delayStepMs` more each time, at most `maxDelayMs`); once `maxFailures`
 * failures are within the window, the address is refused outright (429 with Retry-After, or an
 * `error` message with the wait) without its credential being checked, until the count decays.
 * The count decays by one every `decayMs`. An address's successes change nothing: a stranger
 * holding one good key must not be able to clear its record of guesses. Addresses live in a
 * bounded LRU map, so a flood of addresses cannot grow memory.
 */

import { ErrorCodes, ProximaError } from '../../errors.js';
import { SECOND_MS } from '../../time.js';
import { LazyLru } from '../lazy-lru.js';

/** How many failures, how slowly answered, for how long remembered. */
export interface AuthThrottleOptions {
  /** Failures answered without delay. */
  freeFailures: number;
  /** Failures within the window after which the address is refused. */
  maxFailures: number;
  /** One failure is forgotten every `decayMs`. */
  decayMs: number;
  delayStepMs: number;
  maxDelayMs: number;
  /** Addresses remembered. */
  maxAddresses: number;
  now?: () => number;
}

/**
 * 5 failures free, then 250 ms more each, up to 2 s; refused at 10 until one decays, one every
 * 6 s (10 a minute). A person who mistypes a key is never slowed; 3,000 guesses a second from one
 * address become at most 10 a minute.
 */
export const DEFAULT_AUTH_THROTTLE: AuthThrottleOptions = {
  freeFailures: 5,
  maxFailures: 10,
  decayMs: 6 * SECOND_MS,
  delayStepMs: 250,
  maxDelayMs: 2 * SECOND_MS,
  maxAddresses: 10_000,
};

/** May this address try a credential now? */
export type AuthGate = { allowed: true } | { allowed: false; retryAfterMs: number };

interface Failures {
  failures: number;
  updatedMs: number;
}

/** Failed credentials per client address, for one door. */
export class AuthThrottle {
  readonly #o: AuthThrottleOptions;
  readonly #now: () => number;
  readonly #records: LazyLru<string, Failures>;

  constructor(options: Partial<AuthThrottleOptions> = {}) {
    this.#o = { ...DEFAULT_AUTH_THROTTLE, ...options };
    this.#now = options.now ?? Date.now;
    this.#records = new LazyLru({ max: this.#o.maxAddresses });
  }

  /** Before a credential from `address` is checked: refused while it has too many recent failures. */
  gate(address: string): AuthGate {
    const failures = this.#failures(address);
    if (failures < this.#o.maxFailures) return { allowed: true };
    // Allowed again once the count has decayed below the limit.
    const record = this.#records.get(address)!;
    const excess = failures - this.#o.maxFailures + 1;
    const retryAfterMs = Math.max(1, Math.ceil(excess * this.#o.decayMs - (this.#now() - record.updatedMs)));
    return { allowed: false, retryAfterMs };
  }

  /** A credential from `address` was wrong: counts it; resolves with how long to hold the answer back. */
  fail(address: string): number {
    const failures = this.#failures(address) + 1;
    this.#records.set(address, { failures, updatedMs: this.#now() });
    const over = failures - this.#o.freeFailures;
    return over <= 0 ? 0 : Math.min(this.#o.maxDelayMs, over * this.#o.delayStepMs);
  }

  /** The address's failures now, after decay (whole failures, with the partial one carried in updatedMs). */
  #failures(address: string): number {
    const record = this.#records.get(address);
    if (record === undefined) return 0;
    const nowMs = this.#now();
    const decayed = Math.floor(Math.max(0, nowMs - record.updatedMs) / this.#o.decayMs);
    if (decayed === 0) return record.failures;
    record.failures = Math.max(0, record.failures - decayed);
    record.updatedMs += decayed * this.#o.decayMs;
    if (record.failures === 0) this.#records.delete(address);
    return record.failures;
  }
}

/** An address refused for its failed credentials: 429 with Retry-After, or an `error` message with the wait. */
export class ThrottledError extends ProximaError {
  readonly retryAfterMs: number;

  constructor(what: string, retryAfterMs: number) {
    super(ErrorCodes.RATE_LIMITED, `too many wrong ${what} from this address; retry in ${Math.ceil(retryAfterMs / SECOND_MS)} s`);
    this.retryAfterMs = retryAfterMs;
  }
}

/** Throws ThrottledError while `address` is refused at `throttle` (nothing without a throttle). */
export function admit(throttle: AuthThrottle | undefined, address: string, what: string): void {
  const gate = throttle?.gate(address);
  if (gate !== undefined && !gate.allowed) throw new ThrottledError(what, gate.retryAfterMs);
}

/** Counts a wrong credential from `address`, and resolves once its answer has been held back long enough. */
export function failed(throttle: AuthThrottle | undefined, address: string): Promise<void> {
  const ms = throttle?.fail(address) ?? 0;
  return ms <= 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, ms));
}
