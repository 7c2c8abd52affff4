/**
 * The `rewards` section of server.yaml: the numbers of the credit rules and of the checks that feed
 * them (defaults in rules.ts).
 */
import { decimal, integer, map, type Schema, scalar, section, withDefault } from '../../config/schema.js';
import { duration } from '../../config/values.js';
import { DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS } from '../../time.js';
import { DEFAULT_REWARD_RULES as D, type RewardRules, DEFAULT_VERIFY_RULES as V, type VerifyRules } from './rules.js';

const ISO_TIME = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$/;

/** A point in time: an ISO 8601 date or time with its zone (YAML may already have made it a date); as milliseconds. */
function timestamp(): Schema<number> {
  const message = 'must be an ISO 8601 date or time with a zone, e.g. 2025-01-01T00:00:00Z';
  const toMs = (v: unknown): number => {
    if (v instanceof Date) return v.getTime();
    return typeof v === 'string' && ISO_TIME.test(v) ? Date.parse(v) : NaN;
  };
  return map(
    scalar<unknown>('a time', (v) => (Number.isFinite(toMs(v)) ? undefined : message)),
    (v) => toMs(v),
  );
}

/** The `rewards` section: the credit rules and the numbers of the checks that feed them. */
export type RewardsConfig = RewardRules & VerifyRules;

/** The schema of `rewards`. */
export const rewardsSection: Schema<RewardsConfig> = map(
  section({
    epochLengthMs: withDefault(duration(MINUTE_MS, 366 * DAY_MS), D.epochLengthMs),
    epochOrigin: withDefault(timestamp(), new Date(D.epochOriginMs).toISOString()),
    settleMs: withDefault(duration(0, 31 * DAY_MS), D.settleMs),
    promptTokenWeight: withDefault(decimal(0, 1), D.promptTokenWeight),
    observedTolerance: withDefault(decimal(0, 1), D.observedTolerance),
    observedSlackTokens: withDefault(integer(0, 1000), D.observedSlackTokens),
    defaultModelWeight: withDefault(decimal(0.01, 100_000), D.defaultModelWeight),
    maxModelWeight: withDefault(decimal(0.01, 100_000), D.maxModelWeight),
    unconfirmedModelWeight: withDefault(decimal(0.01, 100_000), D.unconfirmedModelWeight),
    uptimeCreditPerHour: withDefault(decimal(0, 1_000_000), D.uptimeCreditPerHour),
    probeIntervalMs: withDefault(duration(SECOND_MS, HOUR_MS), D.probeIntervalMs),
    maxTokensPerSecond: withDefault(decimal(1, 1_000_000), D.maxTokensPerSecond),
    maxTokensPerSecondAt1B: withDefault(decimal(1, 10_000_000), D.maxTokensPerSecondAt1B),
    minTokensForSpeed: withDefault(integer(0, 1_000_000), D.minTokensForSpeed),
    timingSlackMs: withDefault(duration(0, MINUTE_MS), D.timingSlackMs),
    implausibleToFlag: withDefault(integer(0, 1_000_000), D.implausibleToFlag),
    probeTimeoutMs: withDefault(duration(100, 10 * MINUTE_MS), V.probeTimeoutMs),
    canaryShare: withDefault(decimal(0, 1), V.canaryShare),
    newNodeCanaryShare: withDefault(decimal(0, 1), V.newNodeCanaryShare),
    newNodeCanaries: withDefault(integer(0, 1_000_000), V.newNodeCanaries),
    canaryMaxTokens: withDefault(integer(1, 4096), V.canaryMaxTokens),
    canaryTimeoutMs: withDefault(duration(100, HOUR_MS), V.canaryTimeoutMs),
    maxCanariesInFlight: withDefault(integer(1, 10_000), V.maxCanariesInFlight),
    referenceCacheMs: withDefault(duration(0, 31 * DAY_MS), V.referenceCacheMs),
  }),
  ({ epochOrigin, ...rest }) => ({ ...rest, epochOriginMs: epochOrigin }),
);
