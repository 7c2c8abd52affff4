/**
 * Which model serves a request: the one asked for (or its alias's node models), else its fallbacks
 * (`models.fallbacks`) in order. A fallback is taken only when the model asked for cannot take the
 * request now: no node shares it (unknown), its nodes are offline or already failed this request
 * (unavailable), or every one of its hosts is at its `maxConcurrent` (busy). Busy everywhere: the
 * request waits in the router's queue for the model asked for, or for the first fallback with an
 * online host when the model itself has none. Chosen before the first byte only: a retry after a
 * node failed chooses again, its node excluded.
 */
import { ErrorCodes, hasCode } from '../../../errors.js';
import type { ModelNames } from './model-names.js';
import type { AcquireOptions, Lease, ModelRouter } from './model-router.js';

/** What the choice needs of the router. */
export type ChoiceRouter = Pick<ModelRouter, 'acquire' | 'hasOther'>;

/** Errors after which a fallback may take the request. */
const FALL_THROUGH = [ErrorCodes.MODEL_NOT_FOUND, ErrorCodes.MODEL_UNAVAILABLE, ErrorCodes.NODES_BUSY] as const;

const fallsThrough = (err: unknown): boolean => FALL_THROUGH.some((code) => hasCode(err, code));

/** A slot for `key`'s request, on its own hosts or a fallback's; rejects with the model's own error when none can. */
export async function acquireModel(router: ChoiceRouter, names: ModelNames, key: string, options: AcquireOptions = {}): Promise<Lease> {
  const fallbacks = names.fallbacksOf(key);
  if (fallbacks.length === 0) return router.acquire(key, options);
  let first: unknown;
  for (const candidate of [key, ...fallbacks]) {
    try {
      return await router.acquire(candidate, { ...options, wait: false });
    } catch (err) {
      if (!fallsThrough(err) || options.signal?.aborted) throw err;
      first ??= err;
    }
  }
  if (options.wait === false) throw first;
  const exclude = options.exclude ?? new Set<string>();
  const waitFor = [key, ...fallbacks].find((candidate) => router.hasOther(candidate, exclude));
  if (waitFor === undefined) throw first;
  return router.acquire(waitFor, options);
}

/** True when the model asked for or one of its fallbacks has an online host not in `exclude`. */
export function hasOtherHost(router: ChoiceRouter, names: ModelNames, key: string, exclude: ReadonlySet<string>): boolean {
  return [key, ...names.fallbacksOf(key)].some((candidate) => router.hasOther(candidate, exclude));
}
