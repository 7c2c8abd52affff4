/**
 * The numbers of the checks the super node runs on nodes: availability probes and canaries. They
 * sit in server.yaml's `rewards` section next to the credit rules (`probeIntervalMs` is there: each
 * passed probe stands for that much uptime).
 */

/** How nodes are probed and how often their answers are checked; see README "Probes, canaries and flags". */
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

const SECOND_MS = 1000;

/** The defaults, as a super node with no such keys runs. */
export const DEFAULT_VERIFY_RULES: Readonly<VerifyRules> = Object.freeze({
  probeTimeoutMs: 10 * SECOND_MS,
  canaryShare: 0.02,
  newNodeCanaryShare: 0.2,
  newNodeCanaries: 5,
  canaryMaxTokens: 32,
  canaryTimeoutMs: 120 * SECOND_MS,
  maxCanariesInFlight: 8,
  referenceCacheMs: 3_600_000,
});
