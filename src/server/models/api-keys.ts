/**
 * The users' keys of the OpenAI/Ollama endpoint: a presented key is hashed with SHA-256 and compared
 * with every known digest in constant time (the loop never stops early, so timing tells nothing of
 * which key matched, or whether one did), then counted against its key's requests per minute. Keys
 * are never kept or logged in clear; the ledger gets the key's id.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { ErrorCodes, ProximaError } from '../../errors.js';
import { RateLimiter } from '../api-host/rate-limiter.js';
import type { ApiConfig } from './api-config.js';

/** Who is calling: a known key's id and its owner's nodes, or an anonymous caller of an open API. */
export interface ApiCaller {
  keyId: string | null;
  /** The nodes the key's owner runs (for the ledger: their own traffic earns them nothing). */
  owner: string[];
}

/** Let in, or refused with an error (401, 429 with how long to wait). */
export type KeyDecision = { caller: ApiCaller } | { error: ProximaError; retryAfterMs?: number };

interface KnownKey {
  id: string;
  digest: Buffer;
  owner: string[];
  limiter: RateLimiter | undefined;
}

const ANONYMOUS: ApiCaller = Object.freeze({ keyId: null, owner: [] }) as ApiCaller;

/** The key ring of one server. */
export class ApiKeys {
  readonly #open: boolean;
  readonly #keys: KnownKey[];

  constructor(config: Pick<ApiConfig, 'open' | 'keys'>, now?: () => number) {
    this.#open = config.open;
    this.#keys = config.keys.map((k) => ({
      id: k.id,
      digest: Buffer.from(k.sha256, 'hex'),
      owner: [...k.nodes],
      limiter: k.requestsPerMinute === undefined ? undefined : new RateLimiter({ ratePerMinute: k.requestsPerMinute, maxKeys: 1, now }),
    }));
  }

  /**
   * Decides on a request carrying `presented` (the bearer credential; undefined without one). A known
   * key identifies its owner even on an open API; there, any other key is anonymous.
   */
  check(presented: string | undefined): KeyDecision {
    const key = presented === undefined || presented === '' ? undefined : this.#find(presented);
    if (key === undefined) {
      if (this.#open) return { caller: ANONYMOUS };
      const why = presented === undefined ? 'no API key was given (Authorization: Bearer <key>)' : 'the API key is not valid';
      return { error: new ProximaError(ErrorCodes.UNAUTHORIZED, why) };
    }
    const decision = key.limiter?.take(key.id);
    if (decision !== undefined && !decision.allowed) {
      const error = new ProximaError(ErrorCodes.RATE_LIMITED, `key ${key.id} is over its limit of requests per minute`);
      return { error, retryAfterMs: decision.retryAfterMs };
    }
    return { caller: { keyId: key.id, owner: key.owner } };
  }

  #find(presented: string): KnownKey | undefined {
    const digest = createHash('sha256').update(presented, 'utf8').digest();
    let found: KnownKey | undefined;
    for (const key of this.#keys) {
      // Equal lengths always (32 bytes), so timingSafeEqual never throws; no early exit.
      if (timingSafeEqual(digest, key.digest) && found === undefined) found = key;
    }
    return found;
  }
}
