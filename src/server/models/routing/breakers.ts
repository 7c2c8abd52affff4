/**
 * A circuit breaker per node service. Closed, it counts consecutive failures (no connection, a 5xx
 * or a reset before the first byte, a stream cut mid-way, a timeout, a failed probe); at
 * `failures` it opens: the service takes no request for a cooldown that doubles with each trip in
 * a row (from `cooldownMs`, capped at `maxCooldownMs`). Once the cooldown is over it is half-open:
 * ONE trial request may go; its success closes the breaker (and forgets the trips), its failure
 * opens it again for a longer cooldown. A trial that ends neither way (the user left) frees the
 * trial for the next request.
 */

/** The thresholds of every breaker (`routing.breaker` in server.yaml). */
export interface BreakerRules {
  /** Consecutive failures that open a closed breaker. */
  failures: number;
  /** The first cooldown; each trip in a row doubles it. */
  cooldownMs: number;
  maxCooldownMs: number;
}

/** Where a breaker stands. */
export type BreakerState = 'closed' | 'open' | 'half-open';

/** One breaker. `now` is a monotonic clock in ms (performance.now unless a test injects its own). */
export class Breaker {
  readonly #rules: BreakerRules;
  readonly #now: () => number;
  #failures = 0;
  /** Trips in a row since the breaker last closed on a success. */
  #trips = 0;
  #openUntilMs = 0;
  #trialHeld = false;
  /** When the breaker last opened from closed; undefined while closed. */
  #unhealthySinceMs: number | undefined;

  constructor(rules: BreakerRules, now: () => number = () => performance.now()) {
    this.#rules = rules;
    this.#now = now;
  }

  /** Closed, open (cooling down), or half-open (its cooldown is over; a trial may go). */
  get state(): BreakerState {
    if (this.#trips === 0) return 'closed';
    return this.#now() < this.#openUntilMs ? 'open' : 'half-open';
  }

  /** Trips in a row. */
  get trips(): number {
    return this.#trips;
  }

  /** Since when the service has been failing (the first trip of this run of trips); undefined when closed. */
  get unhealthySinceMs(): number | undefined {
    return this.#unhealthySinceMs;
  }

  /** Until when an open breaker refuses requests (monotonic ms). */
  get openUntilMs(): number {
    return this.#openUntilMs;
  }

  /** True when a request may go now: closed, or half-open with no trial out. */
  admits(): boolean {
    const state = this.state;
    return state === 'closed' || (state === 'half-open' && !this.#trialHeld);
  }

  /** A request was given to the service; in half-open it is the trial. */
  leased(): void {
    if (this.state === 'half-open') this.#trialHeld = true;
  }

  /** The request's slot is back and it reported nothing: a trial it held is free again. */
  released(): void {
    this.#trialHeld = false;
  }

  /** An answer came in full (or a probe passed in closed state): the breaker closes. */
  success(): void {
    this.#failures = 0;
    this.#trips = 0;
    this.#trialHeld = false;
    this.#unhealthySinceMs = undefined;
  }

  /** The service failed. Closed: one more in a row; half-open (the trial failed): open again. */
  failure(): void {
    const state = this.state;
    if (state === 'open') return; // requests that left before it opened: the trip is counted once
    if (state === 'closed' && ++this.#failures < this.#rules.failures) return;
    this.#trip();
  }

  #trip(): void {
    const now = this.#now();
    this.#unhealthySinceMs ??= now;
    this.#trips++;
    this.#failures = 0;
    this.#trialHeld = false;
    const { cooldownMs, maxCooldownMs } = this.#rules;
    this.#openUntilMs = now + Math.min(maxCooldownMs, cooldownMs * 2 ** Math.min(this.#trips - 1, 30));
  }
}
