import t from 'tap';
import { DEFAULT_SERVER_CONFIG, loadServerConfig, parseServerConfig } from '../../../src/server/config.js';
import { DEFAULT_REWARD_RULES, DEFAULT_VERIFY_RULES } from '../../../src/server/rewards/rules.js';
import { repoPath } from '../../fixtures/paths.js';

t.test('without a rewards section: the defaults', async (t) => {
  t.same(DEFAULT_SERVER_CONFIG.rewards, { ...DEFAULT_REWARD_RULES, ...DEFAULT_VERIFY_RULES });
  t.equal(DEFAULT_SERVER_CONFIG.rewards.epochOriginMs, 0, 'epochs count from 1970-01-01T00:00:00Z');
});

t.test('every key set, with units', async (t) => {
  const c = loadServerConfig(repoPath('test/fixtures/config/server/valid/ledger-rewards.yaml'));
  t.same(c.rewards, {
    epochLengthMs: 6 * 3_600_000,
    epochOriginMs: Date.UTC(2025, 0, 1, 6),
    settleMs: 7_200_000,
    promptTokenWeight: 0.1,
    observedTolerance: 0.05,
    observedSlackTokens: 1,
    defaultModelWeight: 0.5,
    maxModelWeight: 500,
    unconfirmedModelWeight: 14,
    uptimeCreditPerHour: 0,
    probeIntervalMs: 30_000,
    maxTokensPerSecond: 800,
    maxTokensPerSecondAt1B: 4000.5,
    minTokensForSpeed: 32,
    timingSlackMs: 2000,
    implausibleToFlag: 0,
    probeTimeoutMs: 5000,
    canaryShare: 0.05,
    newNodeCanaryShare: 0.5,
    newNodeCanaries: 3,
    canaryMaxTokens: 16,
    canaryTimeoutMs: 60_000,
    maxCanariesInFlight: 2,
    referenceCacheMs: 600_000,
  });
});

t.test('the epoch origin: an ISO date or time with a zone, quoted or not', async (t) => {
  const origin = (value: unknown): number => parseServerConfig({ rewards: { epochOrigin: value } }).rewards.epochOriginMs;
  t.equal(origin('2025-03-01'), Date.UTC(2025, 2, 1));
  t.equal(origin('2025-03-01T12:30:00+02:00'), Date.UTC(2025, 2, 1, 10, 30));
  t.equal(origin(new Date(Date.UTC(2025, 2, 1))), Date.UTC(2025, 2, 1), 'YAML made it a date');
  for (const bad of ['2025-03-01T12:30:00', 'March 1st', 1735689600000]) {
    t.throws(() => origin(bad), { code: 'PRX_ERR_CONFIG_INVALID', problems: [{ path: 'rewards.epochOrigin' }] }, String(bad));
  }
});

t.test('the canary and probe keys name the bad field', async (t) => {
  const bad = {
    probeTimeoutMs: '50ms',
    canaryShare: 1.5,
    newNodeCanaryShare: -0.1,
    newNodeCanaries: 1.5,
    canaryMaxTokens: 0,
    canaryTimeoutMs: 'soon',
    maxCanariesInFlight: 0,
    referenceCacheMs: -1,
  };
  const err = (() => {
    try {
      parseServerConfig({ rewards: bad });
    } catch (e) {
      return e as { code: string; problems: { path: string }[] };
    }
    return undefined;
  })();
  t.equal(err?.code, 'PRX_ERR_CONFIG_INVALID');
  t.same(
    err?.problems.map((p) => p.path).sort(),
    Object.keys(bad)
      .map((k) => `rewards.${k}`)
      .sort(),
  );
});
