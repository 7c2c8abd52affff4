/**
 * Epochs: fixed-length periods counted from a fixed origin (by default 24 h from 1970-01-01 UTC,
 * so epochs are UTC days). Credit earned in an epoch is pending until the epoch has ended and
 * settled; then it is validated, unless the node failed a check in it.
 */
import type { RewardRules } from './rules.js';

/** Where an epoch stands at a given time. */
export type EpochState = 'open' | 'settling' | 'closed';

/** Epoch arithmetic for one length and origin. */
export class Epochs {
  readonly #lengthMs: number;
  readonly #originMs: number;
  readonly #settleMs: number;

  constructor(rules: Pick<RewardRules, 'epochLengthMs' | 'epochOriginMs' | 'settleMs'>) {
    this.#lengthMs = rules.epochLengthMs;
    this.#originMs = rules.epochOriginMs;
    this.#settleMs = rules.settleMs;
  }

  /** The epoch that `timeMs` falls in. */
  of(timeMs: number): number {
    return Math.floor((timeMs - this.#originMs) / this.#lengthMs);
  }

  /** When epoch `n` starts, in milliseconds since the Unix epoch. */
  startMs(n: number): number {
    return this.#originMs + n * this.#lengthMs;
  }

  /** When epoch `n` ends (the next one starts). */
  endMs(n: number): number {
    return this.startMs(n + 1);
  }

  /** Open until its end; settling for `settleMs` after (still pending); then closed. */
  state(n: number, nowMs: number): EpochState {
    const endMs = this.endMs(n);
    if (nowMs < endMs) return 'open';
    return nowMs < endMs + this.#settleMs ? 'settling' : 'closed';
  }
}
