/**
 * One node's line in the rewards report, and how its epochs settle: credit of an epoch the node
 * failed (a failed canary, a flag, too many implausible requests) is forfeited; credit of a closed
 * epoch is validated; the rest is pending.
 */

import { HOUR_MS } from '../../time.js';
import type { Epochs } from './epochs.js';
import { type RewardRules, TOKENS_PER_CREDIT } from './rules.js';

/** What a node earned in a window; the JSON of `rewards --json`, `/admin/rewards` and `/nodes/NAME/usage`. */
export interface NodeRewards {
  node: string;
  /** Request records in the window. */
  requests: number;
  creditedRequests: number;
  /** node_error and timeout: earn nothing. */
  failedRequests: number;
  /** Cancelled by the user; credited for what was delivered (included in creditedRequests). */
  abortedRequests: number;
  /** Traffic from the node owner's own keys: earns nothing. */
  ownKeyRequests: number;
  /** The node reported more tokens than it delivered; billed what it delivered. */
  clampedRequests: number;
  implausibleRequests: number;
  /** Tokens billed (before weighing by model size). */
  promptTokens: number;
  completionTokens: number;
  /** Passed probes / probes while the node shared a model; null without probes. */
  availability: number | null;
  probes: number;
  probesPassed: number;
  canariesPassed: number;
  canariesFailed: number;
  /** Plausibility checks and canaries. */
  checksPassed: number;
  checksFailed: number;
  /** Epochs whose credit the node lost. */
  flaggedEpochs: number[];
  requestCredit: number;
  uptimeCredit: number;
  pendingCredit: number;
  validatedCredit: number;
  forfeitedCredit: number;
  /** Of the pending and validated credit of every node in the report. */
  share: number;
}

/** The counters a node accumulates inside the window. */
export type NodeCounts = Pick<
  NodeRewards,
  | 'requests'
  | 'creditedRequests'
  | 'failedRequests'
  | 'abortedRequests'
  | 'ownKeyRequests'
  | 'clampedRequests'
  | 'implausibleRequests'
  | 'promptTokens'
  | 'completionTokens'
  | 'probes'
  | 'probesPassed'
  | 'canariesPassed'
  | 'canariesFailed'
>;

/** A node in one epoch. */
export interface NodeEpoch {
  /** A flag record names this epoch. */
  flagged: boolean;
  /** Implausible requests in the whole epoch. */
  implausible: number;
  /** Models it was credited for in the whole epoch (for the uptime weight). */
  served: Set<string>;
  /** Billed tokens per model, inside the window. */
  tokens: Map<string, { prompt: number; completion: number }>;
  /** Passed probes inside the window. */
  passedProbes: number;
}

/** What settling needs to know beyond the node's own numbers. */
export interface SettleContext {
  rules: RewardRules;
  epochs: Epochs;
  nowMs: number;
  failedCanary(epoch: number): boolean;
  weight(epoch: number, model: string): number;
}

/** Zeroed counters. */
export function emptyCounts(): NodeCounts {
  return {
    requests: 0,
    creditedRequests: 0,
    failedRequests: 0,
    abortedRequests: 0,
    ownKeyRequests: 0,
    clampedRequests: 0,
    implausibleRequests: 0,
    promptTokens: 0,
    completionTokens: 0,
    probes: 0,
    probesPassed: 0,
    canariesPassed: 0,
    canariesFailed: 0,
  };
}

/** Settles each of a node's epochs and adds them up; `share` is left 0 for the caller. */
export function settleNode(node: string, counts: NodeCounts, byEpoch: ReadonlyMap<number, NodeEpoch>, ctx: SettleContext): NodeRewards {
  const { rules } = ctx;
  const sums = { requestCredit: 0, uptimeCredit: 0, pendingCredit: 0, validatedCredit: 0, forfeitedCredit: 0 };
  const flaggedEpochs: number[] = [];
  for (const [epoch, ne] of [...byEpoch].sort(([a], [b]) => a - b)) {
    const tooImplausible = rules.implausibleToFlag > 0 && ne.implausible >= rules.implausibleToFlag;
    const failed = ne.flagged || ctx.failedCanary(epoch) || tooImplausible;
    let requestCredit = 0;
    for (const [model, t] of ne.tokens) {
      requestCredit += (ctx.weight(epoch, model) * (t.completion + rules.promptTokenWeight * t.prompt)) / TOKENS_PER_CREDIT;
    }
    // Uptime is paid only to a node that passed every check of the epoch: idling cannot farm it.
    const served = [...ne.served].map((model) => ctx.weight(epoch, model));
    const best = served.length === 0 ? rules.defaultModelWeight : Math.max(...served);
    const hours = (ne.passedProbes * rules.probeIntervalMs) / HOUR_MS;
    const uptimeCredit = failed || ne.implausible > 0 ? 0 : rules.uptimeCreditPerHour * hours * best;
    const credit = requestCredit + uptimeCredit;
    sums.requestCredit += requestCredit;
    sums.uptimeCredit += uptimeCredit;
    if (failed) {
      flaggedEpochs.push(epoch);
      sums.forfeitedCredit += credit;
    } else if (ctx.epochs.state(epoch, ctx.nowMs) === 'closed') sums.validatedCredit += credit;
    else sums.pendingCredit += credit;
  }
  const plausible = counts.creditedRequests;
  return {
    node,
    ...counts,
    availability: counts.probes > 0 ? round(counts.probesPassed / counts.probes) : null,
    checksPassed: plausible + counts.canariesPassed,
    checksFailed: counts.implausibleRequests + counts.canariesFailed,
    flaggedEpochs,
    requestCredit: round(sums.requestCredit),
    uptimeCredit: round(sums.uptimeCredit),
    pendingCredit: round(sums.pendingCredit),
    validatedCredit: round(sums.validatedCredit),
    forfeitedCredit: round(sums.forfeitedCredit),
    share: 0,
  };
}

/** Credits and ratios are shown to a millionth. */
export function round(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}
