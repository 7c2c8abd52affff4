/**
 * What one request earns, before it is weighed by model size: the tokens billed, and why a request
 * earns nothing. The super node sees every byte a node sends, so no count the node reports is
 * billed beyond what the super node observed.
 */
import type { RequestRecord } from '../ledger/ledger-record.js';
import { claimedWeight } from './model-weight.js';
import { implausibility } from './plausibility.js';
import type { RewardRules } from './rules.js';

/**
 * Tokenizers of current models average well over 2 bytes of UTF-8 a token on prose in any language
 * (English about 4, Chinese and Japanese 3 to 4.5: a character of 3 bytes is about a token), so
 * ceil(bytes / 2) bounds the tokens in a text. Counted in characters (UTF-16 units, never more than
 * the bytes) the bound is tighter, and short by about a third for CJK text.
 */
export const MIN_BYTES_PER_TOKEN = 2;

/** Chat templates wrap a prompt in role markers the node counts as prompt tokens. */
export const PROMPT_TEMPLATE_TOKENS = 32;

/** Tokens a request is billed for. */
export interface BilledTokens {
  prompt: number;
  completion: number;
  /** The node reported more completion tokens than the super node observed allows. */
  clamped: boolean;
}

/** How a request was judged. */
export type RequestVerdict =
  | { kind: 'credited'; tokens: BilledTokens }
  /** node_error or timeout: a failed or truncated request. */
  | { kind: 'failed' }
  /** The user's key belongs to the node's owner. */
  | { kind: 'own_key' }
  | { kind: 'implausible'; reason: string; tokens: BilledTokens };

type BillingRules = Pick<RewardRules, 'observedTolerance' | 'observedSlackTokens'>;

/** At most this many tokens fit in `units` bytes (or characters) of text. */
export function tokensBoundByText(units: number): number {
  return Math.ceil(units / MIN_BYTES_PER_TOKEN);
}

/** Completion tokens the super node saw delivered: content chunks of a stream, bounded by the text's length. */
export function observedCompletionTokens(record: RequestRecord): number {
  const byText = tokensBoundByText(record.contentBytes ?? record.contentChars);
  return record.stream ? Math.min(record.completionTokensObserved, byText) : byText;
}

/**
 * The smaller of what the node reported and what the super node observed, with tolerance for
 * tokens that share a chunk. A node that reports beyond the tolerance has over-reported: it is
 * billed what was observed, without tolerance, so inflating a count never pays. A cancelled
 * request, or one without a report, is billed what was delivered.
 */
export function billedTokens(record: RequestRecord, rules: BillingRules): BilledTokens {
  const observed = observedCompletionTokens(record);
  const allowed = withTolerance(observed, rules.observedTolerance) + rules.observedSlackTokens;
  const reported = record.completionTokensReported;
  const clamped = reported !== null && reported > allowed;
  const delivered = record.outcome === 'client_abort' || reported === null || clamped;
  const completion = delivered ? Math.min(reported ?? observed, observed) : reported;
  const promptAllowed = withTolerance(tokensBoundByText(record.promptChars), rules.observedTolerance) + PROMPT_TEMPLATE_TOKENS;
  const prompt = Math.min(record.promptTokensReported ?? 0, promptAllowed);
  return { prompt, completion, clamped };
}

/** ceil(count × (1 + tolerance)), so that 100 at 10% is 110 and not, by floating point, 111. */
export function withTolerance(count: number, tolerance: number): number {
  return Math.ceil(count * (1 + tolerance) - 1e-9);
}

/** Judges one request: failed, the owner's own traffic, implausible, or credited with its billed tokens. */
export function judgeRequest(record: RequestRecord, rules: RewardRules): RequestVerdict {
  if (record.outcome === 'node_error' || record.outcome === 'timeout') return { kind: 'failed' };
  if (record.keyOwner.includes(record.node)) return { kind: 'own_key' };
  const tokens = billedTokens(record, rules);
  const claimed = record.completionTokensReported ?? tokens.completion;
  const reason = implausibility(record, claimed, claimedWeight(record.parameterSize, rules), rules);
  return reason === undefined ? { kind: 'credited', tokens } : { kind: 'implausible', reason, tokens };
}
