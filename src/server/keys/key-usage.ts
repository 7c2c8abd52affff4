/**
 * What each API key has used: requests and tokens in the last minute (sixty one-second slots, so
 * memory per key is fixed whatever the traffic), and credits in the current UTC day and month. A
 * request counts as it is let in; its tokens and credits once its record is written, from the
 * record. Credits are priced as the rewards price a request (request-credit.ts): the billed tokens,
 * weighed by the model's claimed size, per 1,000; a failed request, and traffic from a key's owner
 * to their own node, cost nothing. The day and month survive a restart: {@link seedKeyUsage} sums
 * them from the ledger at start.
 */
import type { LedgerRecord, RequestRecord } from '../ledger/ledger-record.js';
import { claimedWeight } from '../rewards/model-weight.js';
import { billedTokens } from '../rewards/request-credit.js';
import { type RewardRules, TOKENS_PER_CREDIT } from '../rewards/rules.js';
import type { BudgetPeriod } from './key-record.js';

/** The rules a price needs. */
export type PriceRules = Pick<
  RewardRules,
  'observedTolerance' | 'observedSlackTokens' | 'promptTokenWeight' | 'defaultModelWeight' | 'maxModelWeight'
>;

/** One key's usage now. */
export interface KeyUsageNow {
  requestsThisMinute: number;
  tokensThisMinute: number;
  creditsToday: number;
  creditsThisMonth: number;
}

const SLOTS = 60;
const SECOND_MS = 1000;

interface Counts {
  /** Unix second of each slot, and what it holds. */
  seconds: number[];
  requests: number[];
  tokens: number[];
  dayStartMs: number;
  day: number;
  monthStartMs: number;
  month: number;
}

/** The start of the UTC day or month that holds `ms`. */
export function periodStartMs(ms: number, per: BudgetPeriod): number {
  const d = new Date(ms);
  return per === 'day' ? Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) : Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

/** The start of the next UTC day or month after `ms`. */
export function nextPeriodMs(ms: number, per: BudgetPeriod): number {
  const d = new Date(periodStartMs(ms, per));
  return per === 'day' ? d.getTime() + 86_400_000 : Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}

/** Tokens a record counts against tokens per minute: the billed prompt and completion tokens. */
export function recordTokens(record: RequestRecord, rules: PriceRules): number {
  const t = billedTokens(record, rules);
  return t.prompt + t.completion;
}

/** What a request costs its key, in credits. */
export function recordPrice(record: RequestRecord, rules: PriceRules): number {
  if (record.outcome === 'node_error' || record.outcome === 'timeout' || record.keyOwner.includes(record.node)) return 0;
  const t = billedTokens(record, rules);
  return (claimedWeight(record.parameterSize, rules) * (t.completion + rules.promptTokenWeight * t.prompt)) / TOKENS_PER_CREDIT;
}

/** Usage of every key, in memory. */
export class KeyUsage {
  readonly #rules: PriceRules;
  readonly #now: () => number;
  readonly #keys = new Map<string, Counts>();

  constructor(rules: PriceRules, now: () => number = Date.now) {
    this.#rules = rules;
    this.#now = now;
  }

  /** A request of `keyId` was let in. */
  admitted(keyId: string): void {
    const c = this.#counts(keyId);
    c.requests[this.#slot(c, this.#now())]! += 1;
  }

  /** A request's record was written: its tokens count this minute (if recent), its credits in its day and month. */
  recorded(record: RequestRecord): void {
    if (record.keyId === null) return;
    const c = this.#counts(record.keyId);
    const nowMs = this.#now();
    c.tokens[this.#slot(c, nowMs)]! += recordTokens(record, this.#rules);
    this.#charge(c, Date.parse(record.time), recordPrice(record, this.#rules), nowMs);
  }

  /** Adds a past record's credits (at start, from the ledger); tokens of the past minute are not kept. */
  replayed(record: RequestRecord): void {
    if (record.keyId !== null)
      this.#charge(this.#counts(record.keyId), Date.parse(record.time), recordPrice(record, this.#rules), this.#now());
  }

  /** `keyId`'s usage now. */
  usage(keyId: string): KeyUsageNow {
    const nowMs = this.#now();
    const c = this.#keys.get(keyId);
    if (c === undefined) return { requestsThisMinute: 0, tokensThisMinute: 0, creditsToday: 0, creditsThisMonth: 0 };
    this.#roll(c, nowMs);
    const second = Math.floor(nowMs / SECOND_MS);
    let requests = 0;
    let tokens = 0;
    for (let i = 0; i < SLOTS; i++) {
      if (second - c.seconds[i]! >= SLOTS) continue;
      requests += c.requests[i]!;
      tokens += c.tokens[i]!;
    }
    return { requestsThisMinute: requests, tokensThisMinute: tokens, creditsToday: round(c.day), creditsThisMonth: round(c.month) };
  }

  /** How long until the oldest tokens of `keyId`'s last minute leave it. */
  tokensRetryAfterMs(keyId: string): number {
    const c = this.#keys.get(keyId);
    const nowMs = this.#now();
    const second = Math.floor(nowMs / SECOND_MS);
    let oldest = second;
    for (let i = 0; c !== undefined && i < SLOTS; i++) {
      if (c.tokens[i]! > 0 && second - c.seconds[i]! < SLOTS) oldest = Math.min(oldest, c.seconds[i]!);
    }
    return Math.max(SECOND_MS, (oldest + SLOTS) * SECOND_MS - nowMs);
  }

  #charge(c: Counts, timeMs: number, credits: number, nowMs: number): void {
    this.#roll(c, nowMs);
    if (timeMs >= c.dayStartMs) c.day += credits;
    if (timeMs >= c.monthStartMs) c.month += credits;
  }

  /** A new day or month starts from zero. */
  #roll(c: Counts, nowMs: number): void {
    const day = periodStartMs(nowMs, 'day');
    if (day !== c.dayStartMs) [c.dayStartMs, c.day] = [day, 0];
    const month = periodStartMs(nowMs, 'month');
    if (month !== c.monthStartMs) [c.monthStartMs, c.month] = [month, 0];
  }

  /** The slot of `nowMs`'s second, emptied if it held an older second. */
  #slot(c: Counts, nowMs: number): number {
    const second = Math.floor(nowMs / SECOND_MS);
    const i = second % SLOTS;
    if (c.seconds[i] !== second) [c.seconds[i], c.requests[i], c.tokens[i]] = [second, 0, 0];
    return i;
  }

  #counts(keyId: string): Counts {
    let c = this.#keys.get(keyId);
    if (c === undefined) {
      const zeros = (): number[] => new Array<number>(SLOTS).fill(0);
      const nowMs = this.#now();
      c = {
        seconds: zeros().fill(-SLOTS),
        requests: zeros(),
        tokens: zeros(),
        dayStartMs: periodStartMs(nowMs, 'day'),
        day: 0,
        monthStartMs: periodStartMs(nowMs, 'month'),
        month: 0,
      };
      this.#keys.set(keyId, c);
    }
    return c;
  }
}

/** Credits are shown to a millionth, as in the rewards report. */
function round(credits: number): number {
  return Math.round(credits * 1e6) / 1e6;
}

/** Feeds the request records of the current month (from `records`, the ledger read from the month's start) into `usage`. */
export async function seedKeyUsage(usage: KeyUsage, records: AsyncIterable<LedgerRecord>): Promise<number> {
  let n = 0;
  for await (const record of records) {
    if (record.type !== 'request' || record.keyId === null || record.canary !== null) continue;
    usage.replayed(record);
    n++;
  }
  return n;
}
