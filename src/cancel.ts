/**
 * A request's cancellation, lighter than an AbortController. Every routed API request on the super
 * node has one (the user may leave, an attempt may time out; the router's queue, the pool and the
 * connection listen for it), and so does every request the node's guard passes to Ollama. An
 * AbortController's signal is an EventTarget: making one cost the super node 6.5 µs of sampled CPU
 * per streamed chat (2026-12-08) and the guard 3.5% of its time, and most requests are never
 * cancelled.
 *
 * What listens takes a CancelSignal, which an AbortSignal also is, so callers that hold a real
 * AbortSignal (a prober's stop, a canary's) pass it unchanged.
 */

/** What a listener needs of a cancellation: an AbortSignal has it, and so does Cancel. */
export interface CancelSignal {
  readonly aborted: boolean;
  /** Why it was cancelled (undefined until then). */
  readonly reason: unknown;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/** Cancelled once, by `abort`; its listeners run then, in the order they were added, each once. */
export class Cancel implements CancelSignal {
  aborted = false;
  reason: unknown;
  #listeners: (() => void)[] = [];

  /**
   * As an AbortSignal's: a listener added twice runs once; one added after the abort never runs.
   * Every listener runs at most once, so `once` changes nothing.
   */
  addEventListener(_type: 'abort', listener: () => void, _options?: { once?: boolean }): void {
    if (!this.aborted && !this.#listeners.includes(listener)) this.#listeners.push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const at = this.#listeners.indexOf(listener);
    if (at >= 0) this.#listeners.splice(at, 1);
  }

  /**
   * Cancels with `reason` (an AbortError, as AbortController gives, when none); later calls do
   * nothing. A listener that throws does not stop the others: its error is thrown afterwards, on
   * its own, as an EventTarget reports it.
   */
  abort(reason?: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason ?? new DOMException('This operation was aborted', 'AbortError');
    const listeners = this.#listeners;
    this.#listeners = [];
    for (const listener of listeners) {
      try {
        listener();
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }
}
