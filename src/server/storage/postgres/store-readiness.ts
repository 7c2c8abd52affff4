/**
 * Is the shared store there? The readiness check /readyz runs as "store" when PostgreSQL holds the
 * shared state: ready when a cheap query (`SELECT 1`) answered within the last `freshMs`. Probes
 * are frequent (every load balancer, every few seconds) and must not become a query each: an answer
 * is reused while fresh, and probes that arrive while a query is in flight share it.
 */
import type { PostgresStore } from './postgres-pool.js';

export interface StoreReadinessOptions {
  /** How long an answer stands for the next probes (default 1000 ms). */
  freshMs?: number;
  now?: () => number;
}

/** undefined when ready, else why not: the failure with the URL redacted and no password. */
export type StoreReadiness = () => Promise<string | undefined>;

/** The "store" readiness check of `store`. */
export function storeReadiness(store: PostgresStore, options: StoreReadinessOptions = {}): StoreReadiness {
  const freshMs = options.freshMs ?? 1000;
  const now = options.now ?? Date.now;
  let last: { atMs: number; problem: string | undefined } | undefined;
  let inFlight: Promise<string | undefined> | undefined;
  const ask = async (): Promise<string | undefined> => {
    const startedMs = now();
    let problem: string | undefined;
    try {
      await store.pool.query('SELECT 1');
    } catch (err) {
      problem = store.failure('the shared store did not answer', err).message;
    }
    last = { atMs: startedMs, problem };
    return problem;
  };
  return () => {
    if (last !== undefined && now() - last.atMs < freshMs) return Promise.resolve(last.problem);
    inFlight ??= ask().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  };
}
