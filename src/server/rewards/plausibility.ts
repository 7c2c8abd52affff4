/**
 * Plausibility checks on one request: could a real model on real hardware have produced what the
 * node reports in the time the super node saw? Each check compares a node's claim with something
 * the super node measured itself, with slack for tunnel jitter, so an honest node never fails one.
 */

import { SECOND_MS } from '../../time.js';
import type { RequestRecord } from '../ledger/ledger-record.js';
import type { RewardRules } from './rules.js';

type PlausibilityRules = Pick<
  RewardRules,
  'maxTokensPerSecond' | 'maxTokensPerSecondAt1B' | 'timingSlackMs' | 'observedSlackTokens' | 'minTokensForSpeed'
>;

/** The generation speed no model of `weight` billion parameters exceeds, in tokens per second. */
export function tokensPerSecondCeiling(weight: number, rules: Pick<RewardRules, 'maxTokensPerSecond' | 'maxTokensPerSecondAt1B'>): number {
  return Math.min(rules.maxTokensPerSecond, rules.maxTokensPerSecondAt1B / weight);
}

/**
 * Why the request is implausible, or undefined when it passes every check. `completionTokens` is
 * what the node claims it generated (its report, else what was observed); `weight` is the size the
 * node claims for the model: a larger claim means a lower speed ceiling.
 */
export function implausibility(
  record: RequestRecord,
  completionTokens: number,
  weight: number,
  rules: PlausibilityRules,
): string | undefined {
  const max = record.maxTokensRequested;
  if (max !== null && record.completionTokensReported !== null && record.completionTokensReported > max) {
    return `reported ${record.completionTokensReported} completion tokens; the request allowed ${max}`;
  }
  // An honest stream carries at most one content chunk per token; more is a node splitting text.
  if (max !== null && record.stream && record.completionTokensObserved > max + rules.observedSlackTokens) {
    return `sent ${record.completionTokensObserved} content chunks; the request allowed ${max} tokens`;
  }
  // Generation runs between the first and the last byte of a stream; a whole answer comes at once.
  const generationMs = record.stream && record.ttftMs !== null ? record.durationMs - record.ttftMs : record.durationMs;
  if (record.evalDurationNs !== null) {
    const evalMs = record.evalDurationNs / 1e6;
    if (evalMs > generationMs + rules.timingSlackMs) {
      return `reported ${Math.round(evalMs)} ms of generation; the super node saw ${Math.round(generationMs)} ms`;
    }
  }
  // Speed means sustained generation: a short answer (a tool call, a yes) comes in one burst, and
  // its few milliseconds measure the tunnel's jitter, not the hardware.
  if (completionTokens < rules.minTokensForSpeed) return undefined;
  const ceiling = tokensPerSecondCeiling(weight, rules);
  if (completionTokens > (ceiling * generationMs) / SECOND_MS + rules.observedSlackTokens) {
    const rate = Math.round((completionTokens * SECOND_MS) / Math.max(generationMs, 1));
    const span = record.stream && record.ttftMs !== null ? 'between the first and the last byte' : 'for the whole answer';
    return `${completionTokens} tokens in ${Math.round(generationMs)} ms ${span} (${rate}/s) is over ${Math.round(ceiling)}/s for its size`;
  }
  return undefined;
}
