/**
 * The verdict on a canary: a deterministic prompt (temperature 0, fixed seed, fixed num_predict)
 * answered by the node and by a reference node serving the same digest. The same weights give the
 * same text, at least for a while (GPU kernels and quantization can make long answers drift), and
 * the same tokenizer gives the same count for the same text. So a node serving another model
 * differs within the first words, and one that inflates its counts (or splits its chunks to match)
 * reports more tokens than the reference for as much text. Pure; the canary step writes the verdict.
 */
import { withTolerance } from './request-credit.js';

/** One answer to the canary prompt. */
export interface CanaryAnswer {
  /** The generated text, as delivered. */
  text: string;
  /** The completion tokens the node reported (eval_count / completion_tokens), if any. */
  completionTokensReported: number | null;
}

/** How strict the comparison is. */
export interface CanaryJudgeRules {
  /** The answers must agree on this many first characters (or on all of the reference, if shorter). */
  minPrefixChars: number;
  /** The node may report this much more (a fraction) than the reference's count implies for its text. */
  tokenTolerance: number;
}

export const DEFAULT_CANARY_JUDGE_RULES: Readonly<CanaryJudgeRules> = Object.freeze({ minPrefixChars: 32, tokenTolerance: 0.1 });

/** The verdict: passed, failed, or null when there is nothing to compare with. */
export interface CanaryVerdict {
  passed: boolean | null;
  reason: string;
}

/** Compares the node's answer with the reference node's. */
export function judgeCanary(
  answer: CanaryAnswer,
  reference: CanaryAnswer,
  rules: CanaryJudgeRules = DEFAULT_CANARY_JUDGE_RULES,
): CanaryVerdict {
  if (reference.text === '') return { passed: null, reason: 'the reference answer is empty' };
  const same = commonPrefixLength(answer.text, reference.text);
  const needed = Math.min(rules.minPrefixChars, reference.text.length);
  if (same < needed) return { passed: false, reason: `the answers differ after ${same} characters (${needed} must agree)` };
  const ours = answer.completionTokensReported;
  const theirs = reference.completionTokensReported;
  if (ours !== null && theirs !== null) {
    // What the reference's tokenizer needs for a text as long as ours, with tolerance.
    const expected = (theirs * answer.text.length) / reference.text.length;
    const allowed = withTolerance(expected, rules.tokenTolerance) + 1;
    if (ours > allowed) return { passed: false, reason: `reported ${ours} tokens where the reference implies at most ${allowed}` };
  }
  return { passed: true, reason: `the answers agree on the first ${same} characters` };
}

function commonPrefixLength(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
}
