/**
 * Basic passwords checked against their scrypt hashes, at a bounded cost. scrypt is slow on purpose
 * (about 50 ms and 16 MiB each), so: a verdict is remembered, keyed by a SHA-256 of the hash and
 * the credential (a page of 50 assets runs scrypt once, and a hash the node replaced is a miss);
 * the same credential presented while it is being checked waits for that check; at most
 * `concurrency` checks run at once and `maxWaiting` wait, beyond which the request is refused with
 * 429 (a stranger trying passwords cannot pin the CPU, whatever the rate).
 */
import { createHash } from 'node:crypto';
import { ErrorCodes, ProximaError } from '../../errors.js';
import { parseScryptHash, verifyPassword } from '../../proto/service-access.js';
import { MINUTE_MS } from '../../time.js';
import { LazyLru } from '../lazy-lru.js';

/** Limits of a PasswordChecks. */
export interface PasswordCheckLimits {
  /** scrypt runs at once (libuv's pool has 4 threads; leave some for files and DNS). */
  concurrency: number;
  /** Checks waiting for a turn before new ones are refused. */
  maxWaiting: number;
  /** Remembered verdicts; successes for `okTtlMs`, failures for `failTtlMs`. */
  maxVerdicts: number;
  okTtlMs: number;
  failTtlMs: number;
}

export const DEFAULT_PASSWORD_CHECK_LIMITS: PasswordCheckLimits = {
  concurrency: 2,
  maxWaiting: 16,
  maxVerdicts: 10_000,
  okTtlMs: 10 * MINUTE_MS,
  failTtlMs: MINUTE_MS,
};

/** Verifies Basic passwords; see the file comment. */
export class PasswordChecks {
  readonly #limits: PasswordCheckLimits;
  readonly #verdicts: LazyLru<string, boolean>;
  readonly #inFlight = new Map<string, Promise<boolean>>();
  readonly #waiting: (() => void)[] = [];
  #running = 0;
  /** scrypt runs started, for tests and stats. */
  runs = 0;

  constructor(limits: Partial<PasswordCheckLimits> = {}) {
    this.#limits = { ...DEFAULT_PASSWORD_CHECK_LIMITS, ...limits };
    this.#verdicts = new LazyLru({ max: this.#limits.maxVerdicts, ttl: this.#limits.okTtlMs });
  }

  /**
   * The verdict for `password` against `passwordHash`: a boolean when it is known now, else a
   * promise of it. The promise rejects with PRX_ERR_RATE_LIMITED when too many checks wait.
   */
  check(passwordHash: string, user: string, password: string): boolean | Promise<boolean> {
    const key = createHash('sha256').update(`${passwordHash}\0${user}\0${password}`, 'utf8').digest('base64');
    const known = this.#verdicts.get(key);
    if (known !== undefined) return known;
    let pending = this.#inFlight.get(key);
    if (pending === undefined) {
      pending = this.#verify(passwordHash, password).then((ok) => {
        this.#verdicts.set(key, ok, { ttl: ok ? this.#limits.okTtlMs : this.#limits.failTtlMs });
        return ok;
      });
      const forget = (): void => void this.#inFlight.delete(key);
      pending.then(forget, forget);
      this.#inFlight.set(key, pending);
    }
    return pending;
  }

  async #verify(passwordHash: string, password: string): Promise<boolean> {
    const hash = parseScryptHash(passwordHash);
    if (hash === undefined) return false;
    await this.#turn();
    try {
      this.runs++;
      return await verifyPassword(password, hash);
    } finally {
      this.#running--;
      this.#waiting.shift()?.();
    }
  }

  /** Resolves when a check may run; the caller decrements #running when done. */
  #turn(): Promise<void> {
    if (this.#running < this.#limits.concurrency) {
      this.#running++;
      return Promise.resolve();
    }
    if (this.#waiting.length >= this.#limits.maxWaiting)
      return Promise.reject(new ProximaError(ErrorCodes.RATE_LIMITED, 'too many password checks at once; try again shortly'));
    return new Promise((resolve) =>
      this.#waiting.push(() => {
        this.#running++;
        resolve();
      }),
    );
  }
}
