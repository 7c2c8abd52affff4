/**
 * How much one peer can make the super node write to its log: a token bucket of lines (a burst,
 * then a steady rate). Lines over the budget are counted, not written; the next line written, or
 * the summary at the end, says how many were left out. A node that sent 50,000 bad control
 * messages once made the server write 11.8 MiB of warnings in 2.5 s.
 */
import type { LogFields, Logger } from '../../log.js';
import { RateLimiter } from '../api-host/rate-limiter.js';

/** How many lines, how fast. */
export interface LogBudgetOptions {
  /** Lines a minute on average. */
  linesPerMinute: number;
  /** Lines at once after a quiet spell. */
  burst: number;
  now?: () => number;
}

export const DEFAULT_LOG_BUDGET: LogBudgetOptions = { linesPerMinute: 30, burst: 10 };

/** Warnings of one peer, within a budget. */
export class LogBudget {
  readonly #logger: Logger;
  readonly #bucket: RateLimiter;
  #suppressed = 0;

  constructor(logger: Logger, options: LogBudgetOptions = DEFAULT_LOG_BUDGET) {
    this.#logger = logger;
    this.#bucket = new RateLimiter({ ratePerMinute: options.linesPerMinute, burst: options.burst, maxKeys: 1, now: options.now });
  }

  /** Lines left out since the last one written. */
  get suppressed(): number {
    return this.#suppressed;
  }

  /** Writes a warning if the budget allows; a line written says how many were left out before it. */
  warn(msg: string, fields: LogFields): void {
    if (!this.#bucket.take('').allowed) {
      this.#suppressed++;
      return;
    }
    const suppressed = this.#suppressed;
    this.#suppressed = 0;
    this.#logger.warn(msg, suppressed > 0 ? { ...fields, suppressed } : fields);
  }

  /** Writes one summary line for what was left out, if anything was (when the peer goes away, say). */
  flush(msg: string, fields: LogFields): void {
    if (this.#suppressed === 0) return;
    this.#logger.warn(msg, { ...fields, suppressed: this.#suppressed });
    this.#suppressed = 0;
  }
}
