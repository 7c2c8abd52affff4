/**
 * The `ledger` and `rewards` sections of server.yaml: how the ledger batches and rotates, and the
 * numbers of the credit rules (defaults in reward-rules.ts).
 */
import { decimal, integer, map, scalar, section, withDefault, type Schema } from '../../config/schema.js';
import { duration } from '../../config/values.js';
import { DEFAULT_FLUSH_INTERVAL_MS, DEFAULT_MAX_BATCH_RECORDS, DEFAULT_MAX_FILE_BYTES } from './ledger-writer.js';
import { DEFAULT_REWARD_RULES as D, type RewardRules } from '../rewards/reward-rules.js';
import { DEFAULT_VERIFY_RULES as V, type VerifyRules } from '../rewards/verify-rules.js';

/** How the ledger is written. */
export interface LedgerConfig {
  flushIntervalMs: number;
  maxBatchRecords: number;
  /** 0: never rotate. */
  maxFileBytes: number;
}

const SECOND_MS = 1000;
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** The schema of `ledger`. */
export const ledgerSection: Schema<LedgerConfig> = section({
  flushIntervalMs: withDefault(duration(1, 60 * SECOND_MS), DEFAULT_FLUSH_INTERVAL_MS),
  maxBatchRecords: withDefault(integer(1, 100_000), DEFAULT_MAX_BATCH_RECORDS),
  maxFileBytes: withDefault(integer(0, 2 ** 40), DEFAULT_MAX_FILE_BYTES),
});

const ISO_TIME = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$/;

/** A point in time: an ISO 8601 date or time with its zone (YAML may already have made it a date); as milliseconds. */
function timestamp(): Schema<number> {
  const message = 'must be an ISO 8601 date or time with a zone, e.g. 2025-01-01T00:00:00Z';
  const toMs = (v: unknown): number => {
    if (v instanceof Date) return v.getTime();
    return typeof v === 'string' && ISO_TIME.test(v) ? Date.parse(v) : NaN;
  };
  return map(scalar<unknown>('a time', (v) => (Number.isFinite(toMs(v)) ? undefined : message)), (v) => toMs(v));
}

/** The `rewards` section: the credit rules and the numbers of the checks that feed them. */
export type RewardsConfig = RewardRules & VerifyRules;

/** The schema of `rewards`. */
export const rewardsSection: Schema<RewardsConfig> = map(section({
  epochLengthMs: withDefault(duration(60 * SECOND_MS, 366 * DAY_MS), D.epochLengthMs),
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
  timingSlackMs: withDefault(duration(0, 60 * SECOND_MS), D.timingSlackMs),
  implausibleToFlag: withDefault(integer(0, 1_000_000), D.implausibleToFlag),
  probeTimeoutMs: withDefault(duration(100, 10 * 60 * SECOND_MS), V.probeTimeoutMs),
  canaryShare: withDefault(decimal(0, 1), V.canaryShare),
  newNodeCanaryShare: withDefault(decimal(0, 1), V.newNodeCanaryShare),
  newNodeCanaries: withDefault(integer(0, 1_000_000), V.newNodeCanaries),
  canaryMaxTokens: withDefault(integer(1, 4096), V.canaryMaxTokens),
  canaryTimeoutMs: withDefault(duration(100, HOUR_MS), V.canaryTimeoutMs),
  maxCanariesInFlight: withDefault(integer(1, 10_000), V.maxCanariesInFlight),
  referenceCacheMs: withDefault(duration(0, 31 * DAY_MS), V.referenceCacheMs),
}), ({ epochOrigin, ...rest }) => ({ ...rest, epochOriginMs: epochOrigin }));
