/**
 * The users' keys of the OpenAI/Ollama endpoint, from two sources: server.yaml's `api.keys` (read at
 * start) and the key store (`proxima-server keys`, followed while the server runs). A presented key
 * is hashed with SHA-256 and compared with every known digest in constant time (the loop never stops
 * early, so timing tells nothing of which key matched, or whether one did), then held to its key's
 * limits: tokens per minute and the credit budget (see keys/key-usage.ts), then requests per minute.
 * Keys are never kept or logged in clear; the ledger gets the key's id. A stored key whose id or name
 * is a server.yaml key's id is ignored: server.yaml wins.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { ErrorCodes, ProximaError } from '../../errors.js';
import { displayName } from '../../proto/llm/model-name.js';
import { RateLimiter } from '../api-host/rate-limiter.js';
import type { KeyLimits, KeyRecord } from '../keys/key-record.js';
import { KeyUsage, type KeyUsageNow, nextPeriodMs, periodStartMs } from '../keys/key-usage.js';
import type { RequestRecord } from '../ledger/ledger-record.js';
import { DEFAULT_REWARD_RULES } from '../rewards/rules.js';
import type { ApiConfig } from './api-config.js';

/** Who is calling: a known key's id and its owner's nodes, or an anonymous caller of an open API. */
export interface ApiCaller {
  keyId: string | null;
  /** The nodes the key's owner runs (for the ledger: their own traffic earns them nothing). */
  owner: string[];
  /** The models (catalog keys) the key may use; absent or null: every model. */
  models?: ReadonlySet<string> | null;
}

/** Let in, or refused with an error (401, 429 with how long to wait). */
export type KeyDecision = { caller: ApiCaller } | { error: ProximaError; retryAfterMs?: number };

/** What a request does: go to a node, list models (answered by the super node), or ask about its own key. */
export type KeyUse = 'node' | 'listing' | 'self';

/** What `GET /v1/key` shows a key holder. */
export interface KeyDescription {
  id: string;
  name: string;
  limits: Omit<KeyLimits, 'nodes'>;
  usage: KeyUsageNow;
}

interface KnownKey {
  id: string;
  name: string;
  digest: Buffer;
  limits: KeyLimits;
  caller: ApiCaller;
  limiter: RateLimiter | undefined;
}

const ANONYMOUS: ApiCaller = Object.freeze({ keyId: null, owner: [] }) as ApiCaller;

/** The key ring of one server. */
export class ApiKeys {
  readonly #open: boolean;
  readonly #now: () => number;
  readonly #configured: KnownKey[];
  #stored: KnownKey[] = [];
  /** What each key has used; the server feeds it every record it writes. */
  readonly usage: KeyUsage;

  constructor(config: Pick<ApiConfig, 'open' | 'keys'>, now: () => number = Date.now, usage?: KeyUsage) {
    this.#open = config.open;
    this.#now = now;
    this.usage = usage ?? new KeyUsage(DEFAULT_REWARD_RULES, now);
    this.#configured = config.keys.map((k) => {
      const limits: KeyLimits = {
        requestsPerMinute: k.requestsPerMinute ?? null,
        tokensPerMinute: null,
        budget: null,
        models: null,
        nodes: k.nodes,
      };
      return this.#known(k.id, k.id, k.sha256, limits, undefined);
    });
  }

  /**
   * Takes the store's keys as they are now (revoked ones are dropped). Resolves to the ids of keys
   * ignored because their id or name is a server.yaml key's id.
   */
  setStoredKeys(records: readonly KeyRecord[]): string[] {
    const taken = new Set(this.#configured.map((k) => k.id));
    const previous = new Map(this.#stored.map((k) => [k.id, k]));
    const ignored: string[] = [];
    this.#stored = [];
    for (const r of records) {
      if (r.revokedAt !== null) continue;
      if (taken.has(r.id) || taken.has(r.name)) {
        ignored.push(r.id);
        continue;
      }
      const old = previous.get(r.id);
      const limiter = old?.limits.requestsPerMinute === r.requestsPerMinute ? old.limiter : undefined;
      this.#stored.push(this.#known(r.id, r.name, r.sha256, r, limiter));
    }
    return ignored;
  }

  /**
   * Decides on a request carrying `presented` (the bearer credential; undefined without one). A known
   * key identifies its owner even on an open API; there, any other key is anonymous. Tokens per
   * minute and the budget hold back only requests that go to a node; `GET /v1/key` is held to no limit.
   */
  check(presented: string | undefined, use: KeyUse = 'node'): KeyDecision {
    const key = presented === undefined || presented === '' ? undefined : this.#find(presented);
    if (key === undefined) {
      if (this.#open) return { caller: ANONYMOUS };
      const why = presented === undefined ? 'no API key was given (Authorization: Bearer <key>)' : 'the API key is not valid';
      return { error: new ProximaError(ErrorCodes.UNAUTHORIZED, why) };
    }
    if (use === 'self') return { caller: key.caller };
    const tokensPerMinute = use === 'node' ? key.limits.tokensPerMinute : null;
    const budget = use === 'node' ? key.limits.budget : null;
    const used = tokensPerMinute === null && budget === null ? undefined : this.usage.usage(key.id);
    if (tokensPerMinute !== null && used!.tokensThisMinute >= tokensPerMinute) {
      const error = new ProximaError(ErrorCodes.RATE_LIMITED, `key ${key.name} is over its limit of ${tokensPerMinute} tokens per minute`);
      return { error, retryAfterMs: this.usage.tokensRetryAfterMs(key.id) };
    }
    if (budget !== null && (budget.per === 'day' ? used!.creditsToday : used!.creditsThisMonth) >= budget.credits) {
      const nowMs = this.#now();
      const error = new ProximaError(
        ErrorCodes.QUOTA_EXCEEDED,
        `key ${key.name} has spent its budget of ${budget.credits} credits this ${budget.per} (until ${new Date(nextPeriodMs(nowMs, budget.per)).toISOString()})`,
      );
      return { error, retryAfterMs: nextPeriodMs(nowMs, budget.per) - nowMs };
    }
    const decision = key.limiter?.take(key.id);
    if (decision !== undefined && !decision.allowed) {
      const error = new ProximaError(ErrorCodes.RATE_LIMITED, `key ${key.name} is over its limit of requests per minute`);
      return { error, retryAfterMs: decision.retryAfterMs };
    }
    this.usage.admitted(key.id);
    return { caller: key.caller };
  }

  /** Counts a written record against its key. */
  recorded(record: RequestRecord): void {
    this.usage.recorded(record);
  }

  /** The limits and usage of the key `keyId`, for its holder; undefined for an unknown id. */
  describe(keyId: string): (KeyDescription & { period: { start: string; end: string } | null }) | undefined {
    const key = [...this.#configured, ...this.#stored].find((k) => k.id === keyId);
    if (key === undefined) return undefined;
    const { requestsPerMinute, tokensPerMinute, budget, models } = key.limits;
    const limits = { requestsPerMinute, tokensPerMinute, budget };
    const nowMs = this.#now();
    const per = key.limits.budget?.per;
    const period =
      per === undefined
        ? null
        : { start: new Date(periodStartMs(nowMs, per)).toISOString(), end: new Date(nextPeriodMs(nowMs, per)).toISOString() };
    return {
      id: key.id,
      name: key.name,
      limits: { ...limits, models: models?.map(displayName) ?? null },
      usage: this.usage.usage(key.id),
      period,
    };
  }

  #known(id: string, name: string, sha256: string, limits: KeyLimits, limiter: RateLimiter | undefined): KnownKey {
    const rpm = limits.requestsPerMinute;
    const caller: ApiCaller = { keyId: id, owner: [...limits.nodes] };
    if (limits.models !== null) caller.models = new Set(limits.models);
    return {
      id,
      name,
      digest: Buffer.from(sha256, 'hex'),
      limits,
      caller,
      limiter: limiter ?? (rpm === null ? undefined : new RateLimiter({ ratePerMinute: rpm, maxKeys: 1, now: this.#now })),
    };
  }

  #find(presented: string): KnownKey | undefined {
    const digest = createHash('sha256').update(presented, 'utf8').digest();
    let found: KnownKey | undefined;
    for (const list of [this.#configured, this.#stored]) {
      for (const key of list) {
        // Equal lengths always (32 bytes), so timingSafeEqual never throws; no early exit.
        if (timingSafeEqual(digest, key.digest) && found === undefined) found = key;
      }
    }
    return found;
  }
}
