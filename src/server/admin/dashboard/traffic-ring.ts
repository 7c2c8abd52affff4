/**
 * Traffic over time for the dashboard: requests, tokens and time to first byte summed between two
 * samples, and one sample per tick kept in a fixed ring (the oldest is overwritten), so the memory of
 * a series never grows with the traffic.
 */

/** One series as the page draws it: times (seconds since the Unix epoch) and per-second rates. */
export interface TrafficSeries {
  t: number[];
  requestsPerS: number[];
  tokensPerS: number[];
  /** The mean time to first byte of the requests of each sample; null when none had one. */
  ttftMs: (number | null)[];
}

/** Requests counted since the last sample, then the ring of samples. */
export class TrafficRing {
  readonly #capacity: number;
  readonly #t: Float64Array;
  readonly #requests: Float64Array;
  readonly #tokens: Float64Array;
  readonly #ttftMs: Float64Array;
  #next = 0;
  #size = 0;
  #pendingRequests = 0;
  #pendingTokens = 0;
  #pendingTtftSum = 0;
  #pendingTtftCount = 0;
  #lastSampleMs: number;

  constructor(capacity: number, startMs: number) {
    this.#capacity = capacity;
    this.#t = new Float64Array(capacity);
    this.#requests = new Float64Array(capacity);
    this.#tokens = new Float64Array(capacity);
    this.#ttftMs = new Float64Array(capacity);
    this.#lastSampleMs = startMs;
  }

  /** Counts one finished request. */
  add(tokens: number, ttftMs: number | null): void {
    this.#pendingRequests++;
    this.#pendingTokens += tokens;
    if (ttftMs !== null) {
      this.#pendingTtftSum += ttftMs;
      this.#pendingTtftCount++;
    }
  }

  /** True when nothing was counted since the last sample and every kept sample is empty. */
  get idle(): boolean {
    return this.#pendingRequests === 0 && this.#requests.every((n) => n === 0);
  }

  /** Closes the current sample at `nowMs`: the counts become rates over the time since the last one. */
  sample(nowMs: number): void {
    const seconds = Math.max(0.001, (nowMs - this.#lastSampleMs) / 1000);
    const i = this.#next;
    this.#t[i] = nowMs / 1000;
    this.#requests[i] = this.#pendingRequests / seconds;
    this.#tokens[i] = this.#pendingTokens / seconds;
    this.#ttftMs[i] = this.#pendingTtftCount === 0 ? Number.NaN : this.#pendingTtftSum / this.#pendingTtftCount;
    this.#next = (i + 1) % this.#capacity;
    this.#size = Math.min(this.#capacity, this.#size + 1);
    this.#pendingRequests = this.#pendingTokens = this.#pendingTtftSum = this.#pendingTtftCount = 0;
    this.#lastSampleMs = nowMs;
  }

  /** The kept samples, oldest first. */
  series(): TrafficSeries {
    const out: TrafficSeries = { t: [], requestsPerS: [], tokensPerS: [], ttftMs: [] };
    const start = (this.#next - this.#size + this.#capacity) % this.#capacity;
    for (let k = 0; k < this.#size; k++) {
      const i = (start + k) % this.#capacity;
      out.t.push(this.#t[i]!);
      out.requestsPerS.push(round(this.#requests[i]!));
      out.tokensPerS.push(round(this.#tokens[i]!));
      const ttft = this.#ttftMs[i]!;
      out.ttftMs.push(Number.isNaN(ttft) ? null : Math.round(ttft));
    }
    return out;
  }
}

const round = (n: number): number => Math.round(n * 100) / 100;
