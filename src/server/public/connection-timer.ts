/**
 * The one timer of a public connection, and which deadline it stands for at each moment:
 * a request head has `headTimeoutMs` from its first byte (the first head, from the accept: slowloris
 * gets 408); a keep-alive connection may sit idle for `idleTimeoutMs`; a request body may stall for
 * `idleTimeoutMs`, and must be all there within `bodyTimeoutMs` of its head, however it trickles
 * (a byte a second once kept a body open forever); while a response is awaited there is no
 * deadline (a model may take minutes to load).
 */

import { ErrorCodes, ProximaError } from '../../errors.js';

/** The 408 of a body that stalled, or that was not all there within `bodyTimeoutMs`. */
export function bodyTimeoutError(total: boolean, bodyTimeoutMs: number | undefined): ProximaError {
  const why = total ? `the request body was not all there within ${bodyTimeoutMs} ms` : 'the request body stalled';
  return new ProximaError(ErrorCodes.HTTP_BODY_TIMEOUT, why);
}

/** What the connection does when a deadline passes. */
export interface TimerActions {
  /** A head began and did not end in time (408). */
  head(): void;
  /** Idle too long between requests (or since the accept, with not a byte of a request): close quietly. */
  idle(): void;
  /** A body stalled (`total` false) or was not all there in `bodyTimeoutMs` (`total` true): 408. */
  body(total: boolean): void;
}

/** The connection's state, as far as deadlines go. */
export interface ReadState {
  readonly midHead: boolean;
  readonly midBody: boolean;
  readonly stopped: boolean;
}

type Kind = keyof TimerActions;

/** The deadlines, in ms. */
export interface TimerLimits {
  headTimeoutMs: number;
  idleTimeoutMs: number;
  /** A body's whole time, from its head; without it only stalls are limited. */
  bodyTimeoutMs?: number;
}

/** One timer, re-armed as the connection moves between heads, bodies and idleness. */
export class ConnectionTimer {
  #timer: NodeJS.Timeout | undefined;
  #kind: Kind | undefined;
  #reader: ReadState | undefined;
  /** Which request the head deadline is for: a new head gets a new deadline. */
  #headOf = -1;
  /** Which request's body the total deadline is for, and when it passes (performance.now()). */
  #bodyOf = -1;
  #bodyEndsMs = 0;
  /** The body timer is set to the total deadline now, not to the stall limit: it is not refreshed. */
  #bodyCapped = false;

  readonly #actions: TimerActions;
  readonly #limits: TimerLimits;

  constructor(limits: TimerLimits, actions: TimerActions) {
    this.#actions = actions;
    this.#limits = limits;
  }

  /**
   * Arms the deadline the connection is under now. `requests`: heads read so far; `outstanding`:
   * responses awaited; `paused`: reading stopped for backpressure (the client is not the slow one).
   */
  update(reader: ReadState, outstanding: number, requests: number, paused: boolean): void {
    this.#reader = reader;
    if (reader.stopped || paused) this.clear();
    else if (reader.midHead || (requests === 0 && outstanding === 0)) {
      if (this.#kind !== 'head' || this.#headOf !== requests) this.#arm('head', this.#limits.headTimeoutMs, requests);
    } else if (reader.midBody) this.#armBody(requests);
    else if (outstanding > 0) this.clear();
    else if (this.#kind !== 'idle') this.#arm('idle', this.#limits.idleTimeoutMs);
  }

  /**
   * The stall limit, refreshed as bytes come, until the total deadline is nearer: then the
   * deadline itself, not refreshed. The total runs from the body's start even across pauses.
   */
  #armBody(request: number): void {
    const total = this.#limits.bodyTimeoutMs;
    const nowMs = performance.now();
    if (this.#bodyOf !== request) {
      this.#bodyOf = request;
      this.#bodyEndsMs = total === undefined ? Number.POSITIVE_INFINITY : nowMs + total;
      this.#bodyCapped = false;
    }
    if (this.#kind === 'body' && this.#bodyCapped) return;
    const leftMs = this.#bodyEndsMs - nowMs;
    if (leftMs <= this.#limits.idleTimeoutMs) {
      this.#bodyCapped = true;
      this.#arm('body', Math.max(0, leftMs));
    } else if (this.#kind === 'body') this.#timer!.refresh();
    else this.#arm('body', this.#limits.idleTimeoutMs);
  }

  clear(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#kind = undefined;
  }

  #arm(kind: Kind, ms: number, headOf = -1): void {
    clearTimeout(this.#timer);
    this.#kind = kind;
    this.#headOf = headOf;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#kind = undefined;
      // The first head's deadline runs from the accept: with no byte of it yet, that is idleness.
      if (kind === 'body') this.#actions.body(this.#bodyCapped);
      else this.#actions[kind === 'head' && this.#reader?.midHead === false ? 'idle' : kind]();
    }, ms);
  }
}
