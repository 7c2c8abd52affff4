/**
 * The numbers the reward procedure runs on, with their defaults: the credit rules, and the numbers
 * of the checks that feed them (availability probes and canaries). Both sit in server.yaml's
 * `rewards` section (`probeIntervalMs` is a credit rule too: each passed probe stands for that much
 * uptime). One credit is 1,000 generated tokens of a 1B-parameter model.
 */
import { HOUR_MS, SECOND_MS } from '../../time.js';

/** Every tunable of the credit rules; docs/rewards.md "Credit" says what each means. */
export interface RewardRules {
  /** Epoch length; epochs are counted from `epochOriginMs`. */
  epochLengthMs: number;
  /** The start of epoch 0, in milliseconds since the Unix epoch. */
  epochOriginMs: number;
  /** After an epoch ends its credit stays pending this long, so late verdicts still land in it. */
  settleMs: number;
  /** β: what a prompt token is worth next to a generated one. */
  promptTokenWeight: number;
  /** Billed completion tokens are at most observed × (1 + this) + `observedSlackTokens`. */
  observedTolerance: number;
  observedSlackTokens: number;
  /** The weight (billions of parameters) of a model whose size is unknown. */
  defaultModelWeight: number;
  /** No model weighs more, whatever it claims. */
  maxModelWeight: number;
  /** A size claimed by one node only, and confirmed by no canary, counts for at most this. */
  unconfirmedModelWeight: number;
  /** Uptime credit per hour of passed probes, times the weight of the largest model the node served. */
  uptimeCreditPerHour: number;
  /** How often the super node probes a node: each passed probe stands for this much uptime. */
  probeIntervalMs: number;
  /** No node generates faster than this, whatever the model. */
  maxTokensPerSecond: number;
  /** A model of W billion parameters generates at most this / W tokens per second (memory bound). */
  maxTokensPerSecondAt1B: number;
  /**
   * The speed ceiling judges only answers of at least this many completion tokens: fewer come in a
   * burst whose duration is the tunnel's jitter (a tool call of 10 tokens in 6 ms is honest).
   */
  minTokensForSpeed: number;
  /** Tunnel jitter allowed when comparing a node's reported generation time with the wall clock. */
  timingSlackMs: number;
  /** This many implausible requests in an epoch flag the node for it; 0 never does. */
  implausibleToFlag: number;
}

/** The defaults, as a super node with no `rewards` section runs. */
export const DEFAULT_REWARD_RULES: Readonly<RewardRules> = Object.freeze({
  epochLengthMs: 24 * HOUR_MS,
  epochOriginMs: 0,
  settleMs: HOUR_MS,
  promptTokenWeight: 0.2,
  observedTolerance: 0.1,
  observedSlackTokens: 2,
  defaultModelWeight: 1,
  maxModelWeight: 1000,
  unconfirmedModelWeight: 8,
  uptimeCreditPerHour: 0.1,
  probeIntervalMs: 60 * SECOND_MS,
  maxTokensPerSecond: 1000,
  maxTokensPerSecondAt1B: 5000,
  minTokensForSpeed: 64,
  timingSlackMs: 1000,
  implausibleToFlag: 3,
});

/** Generated tokens per credit. */
export const TOKENS_PER_CREDIT = 1000;

/** How nodes are probed and how often their answers are checked; docs/rewards.md "Probes, canaries and flags". */
export interface VerifyRules {
  /** A probe's answer must come within this; a slower node fails the probe. */
  probeTimeoutMs: number;
  /** The share of user requests followed by a canary to the same node (0: none). */
  canaryShare: number;
  /** The share for a node that has passed fewer than `newNodeCanaries` canaries since the super node started. */
  newNodeCanaryShare: number;
  newNodeCanaries: number;
  /** Tokens a canary asks for (`max_tokens` / `num_predict`): short answers drift least between GPUs. */
  canaryMaxTokens: number;
  /** A canary (or a reference answer) must be over within this. */
  canaryTimeoutMs: number;
  /** Canaries in flight at once, over all nodes (one per node at most, whatever this says). */
  maxCanariesInFlight: number;
  /** A reference node's answer to a canary prompt is reused this long for the same digest and route. */
  referenceCacheMs: number;
}

/** The defaults, as a super node with no such keys runs. */
export const DEFAULT_VERIFY_RULES: Readonly<VerifyRules> = Object.freeze({
  probeTimeoutMs: 10 * SECOND_MS,
  canaryShare: 0.02,
  newNodeCanaryShare: 0.2,
  newNodeCanaries: 5,
  canaryMaxTokens: 32,
  canaryTimeoutMs: 120 * SECOND_MS,
  maxCanariesInFlight: 8,
  referenceCacheMs: HOUR_MS,
});
