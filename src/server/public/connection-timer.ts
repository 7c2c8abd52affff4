/**
 * The one timer of a public connection, and which deadline it stands for at each moment:
 * a request head has `headTimeoutMs` from its first byte (the first head, from the accept: slowloris
 * gets 408); a keep-alive connection may sit idle for `idleTimeoutMs`; a request body may stall for
 * `idleTimeoutMs`; while a response is awaited there is no deadline (a model may take minutes to load).
 */

/** What the connection does when a deadline passes. */
export interface TimerActions {
  /** A head began and did not end in time (408). */
  head(): void;
  /** Idle too long between requests (or since the accept, with not a byte of a request): close quietly. */
  idle(): void;
  body(): void;
}

/** The connection's state, as far as deadlines go. */
export interface ReadState {
  readonly midHead: boolean;
  readonly midBody: boolean;
  readonly stopped: boolean;
}

type Kind = keyof TimerActions;

/** One timer, re-armed as the connection moves between heads, bodies and idleness. */
export class ConnectionTimer {
  #timer: NodeJS.Timeout | undefined;
  #kind: Kind | undefined;
  #reader: ReadState | undefined;
  /** Which request the head deadline is for: a new head gets a new deadline. */
  #headOf = -1;

  readonly #actions: TimerActions;
  readonly #limits: { headTimeoutMs: number; idleTimeoutMs: number };

  constructor(limits: { headTimeoutMs: number; idleTimeoutMs: number }, actions: TimerActions) {
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
    } else if (reader.midBody) {
      if (this.#kind === 'body') this.#timer!.refresh();
      else this.#arm('body', this.#limits.idleTimeoutMs);
    } else if (outstanding > 0) this.clear();
    else if (this.#kind !== 'idle') this.#arm('idle', this.#limits.idleTimeoutMs);
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
      this.#actions[kind === 'head' && this.#reader?.midHead === false ? 'idle' : kind]();
    }, ms);
  }
}
