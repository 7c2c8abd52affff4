import t from 'tap';
import type { LedgerRecord, RequestRecord } from '../../../src/server/ledger/ledger-record.js';
import { judgeCanary } from '../../../src/server/rewards/canary-judge.js';
import type { NodeRewards } from '../../../src/server/rewards/node-rewards.js';
import { RewardsTally, type RewardsWindow } from '../../../src/server/rewards/rewards-tally.js';
import { DEFAULT_REWARD_RULES, type RewardRules } from '../../../src/server/rewards/rules.js';
import { at, canary, DAY_MS, flag, probe, request, T0 } from '../../fixtures/ledger-records.js';

/** One probe an hour, so a day of probes is 24 records. */
const rules: RewardRules = { ...DEFAULT_REWARD_RULES, probeIntervalMs: 3_600_000 };
const EPOCH = 20089;
const DAY: RewardsWindow = { fromMs: T0, toMs: T0 + DAY_MS };
const CLOSED = T0 + DAY_MS + 3_600_000;
const OPEN = T0 + DAY_MS / 2;

function report(records: LedgerRecord[], nowMs = CLOSED, window = DAY, r = rules): Map<string, NodeRewards> {
  const tally = new RewardsTally(r, window);
  for (const record of records) tally.add(record);
  return new Map(tally.report(nowMs).map((row) => [row.node, row]));
}

/** Ten requests of `node`, a minute apart from 00:01. */
function traffic(node: string, fields: Partial<RequestRecord> = {}, count = 10): RequestRecord[] {
  return Array.from({ length: count }, (_, i) => request({ node, time: at((i + 1) * 60_000), ...fields }));
}

/** A day of hourly probes: `failed` of them failed, and two while the node shared no model (not counted). */
function probes(node: string, failed = 0): LedgerRecord[] {
  const out: LedgerRecord[] = Array.from({ length: 24 }, (_, h) => probe({ node, time: at(h * 3_600_000 + 1000), ok: h >= failed }));
  out.push(probe({ node, time: at(500), ok: false, models: [] }), probe({ node, time: at(600), ok: true, models: [] }));
  return out;
}

const ANSWER = 'The capital of France is Paris. It lies on the Seine, and has for centuries.';
const HONEST = { text: ANSWER, completionTokensReported: 18 };

/** A canary verdict on `node`, judged as the canary step will judge it. */
function canaryOf(node: string, answer: { text: string; completionTokensReported: number }): LedgerRecord {
  const verdict = judgeCanary(answer, HONEST);
  return canary({ node, time: at(3_000_000), passed: verdict.passed!, reason: verdict.reason, reference: 'alpha' });
}

const credit = (row: NodeRewards | undefined): number => (row === undefined ? 0 : row.pendingCredit + row.validatedCredit);

/** The same day, with each cheater cheating (cheats = true) or doing the same work honestly. */
function day(cheats: boolean): LedgerRecord[] {
  const honestOr = (cheat: Partial<RequestRecord>): Partial<RequestRecord> => (cheats ? cheat : {});
  return [
    ...traffic('alpha'),
    ...probes('alpha', 4),
    ...traffic('beta'),
    ...probes('beta'),
    ...traffic('inflater', honestOr({ completionTokensReported: 1000 })),
    ...probes('inflater'),
    ...traffic('splitter', honestOr({ completionTokensReported: 400, completionTokensObserved: 400 })),
    ...probes('splitter'),
    canaryOf('splitter', cheats ? { text: ANSWER, completionTokensReported: 72 } : HONEST),
    ...traffic('impostor'),
    ...probes('impostor'),
    canaryOf('impostor', cheats ? { text: 'Paris is the capital and largest city of France.', completionTokensReported: 11 } : HONEST),
    ...traffic('farmer', { keyOwner: cheats ? ['farmer'] : [] }),
    ...probes('farmer'),
    ...traffic(
      'staller',
      honestOr({
        outcome: 'timeout',
        finishReason: null,
        completionTokensReported: null,
        evalDurationNs: null,
        completionTokensObserved: 3,
        contentChars: 12,
      }),
    ),
    ...probes('staller'),
    ...traffic('speedster', honestOr({ durationMs: 50, ttftMs: 5, evalDurationNs: 40_000_000 })),
    ...probes('speedster'),
  ];
}

t.test('an honest node: billed tokens, availability, request and uptime credit, validated once the epoch closed', async (t) => {
  const alpha = report(day(true)).get('alpha')!;
  t.match(alpha, {
    node: 'alpha',
    requests: 10,
    creditedRequests: 10,
    promptTokens: 300,
    completionTokens: 1000,
    availability: 0.833333,
    probes: 24,
    probesPassed: 20,
    checksPassed: 10,
    checksFailed: 0,
    flaggedEpochs: [],
    // 10 × 3.2B × (100 + 0.2 × 30) / 1000, and 0.1 an hour × 20 h × 3.2
    requestCredit: 3.392,
    uptimeCredit: 6.4,
    pendingCredit: 0,
    validatedCredit: 9.792,
    forfeitedCredit: 0,
  });
  const open = report(day(true), OPEN).get('alpha')!;
  t.match(open, { pendingCredit: 9.792, validatedCredit: 0 }, 'pending while the epoch is open');
  t.match(report(day(true), T0 + DAY_MS + 1_800_000).get('alpha'), { pendingCredit: 9.792, validatedCredit: 0 }, 'and while it settles');
});

t.test('cheating pays nothing, and the honest nodes lose nothing by it', async (t) => {
  const cheating = report(day(true));
  const honest = report(day(false));
  t.same([...cheating.keys()], ['alpha', 'beta', 'farmer', 'impostor', 'inflater', 'speedster', 'splitter', 'staller']);
  for (const node of ['alpha', 'beta']) {
    t.equal(credit(cheating.get(node)), credit(honest.get(node)), `${node} earns the same`);
    t.ok(cheating.get(node)!.share > honest.get(node)!.share, `${node}'s share grows when cheats earn less`);
  }
  for (const node of ['inflater', 'splitter', 'impostor', 'farmer', 'staller', 'speedster']) {
    t.ok(credit(cheating.get(node)) <= credit(honest.get(node)), `${node} earns no more by cheating`);
  }
  t.equal(credit(cheating.get('inflater')), credit(honest.get('inflater')), 'an inflated eval_count is billed as if honest');
  t.match(cheating.get('inflater'), { clampedRequests: 10, completionTokens: 1000, checksFailed: 0, flaggedEpochs: [] });

  t.match(cheating.get('splitter'), { canariesFailed: 1, checksFailed: 1, flaggedEpochs: [EPOCH], validatedCredit: 0, pendingCredit: 0 });
  t.ok(cheating.get('splitter')!.forfeitedCredit > honest.get('splitter')!.requestCredit, 'it billed more per request, and lost all of it');
  t.match(cheating.get('impostor'), {
    canariesFailed: 1,
    flaggedEpochs: [EPOCH],
    validatedCredit: 0,
    uptimeCredit: 0,
    forfeitedCredit: 3.392,
  });
  // Uptime is weighed by the largest model a node was credited for; these served none.
  t.match(cheating.get('farmer'), { ownKeyRequests: 10, creditedRequests: 0, requestCredit: 0, uptimeCredit: 2.4, checksFailed: 0 });
  t.match(cheating.get('staller'), { failedRequests: 10, requestCredit: 0, completionTokens: 0, uptimeCredit: 2.4 });
  t.match(honest.get('staller'), { uptimeCredit: 7.68 });
  t.match(cheating.get('speedster'), {
    implausibleRequests: 10,
    checksFailed: 10,
    flaggedEpochs: [EPOCH],
    validatedCredit: 0,
    forfeitedCredit: 0,
  });
  const shares = [...cheating.values()].reduce((sum, r) => sum + r.share, 0);
  t.ok(Math.abs(shares - 1) < 1e-5, `shares add up to 1 (${shares})`);
});

t.test('a cancelled request earns for what was delivered', async (t) => {
  const rows = report([
    request({
      outcome: 'client_abort',
      completionTokensReported: null,
      promptTokensReported: null,
      completionTokensObserved: 40,
      contentChars: 160,
    }),
  ]);
  t.match(rows.get('alpha'), { creditedRequests: 1, abortedRequests: 1, completionTokens: 40, promptTokens: 0, requestCredit: 0.128 });
});

t.test('implausible requests: each earns nothing and costs the uptime; implausibleToFlag of them cost the epoch', async (t) => {
  const fast = { durationMs: 50, ttftMs: 5, evalDurationNs: 40_000_000 };
  const one = report([...traffic('alpha', {}, 9), request({ ...fast, time: at(7_200_000) }), ...probes('alpha')]).get('alpha')!;
  t.match(one, {
    implausibleRequests: 1,
    creditedRequests: 9,
    checksPassed: 9,
    checksFailed: 1,
    uptimeCredit: 0,
    flaggedEpochs: [],
    validatedCredit: 3.0528,
  });
  // The third one lies outside the window, but inside the epoch: the epoch is settled whole.
  const half: RewardsWindow = { fromMs: T0, toMs: T0 + DAY_MS / 2 };
  const records = [...traffic('alpha', fast, 2), request({ ...fast, time: at(DAY_MS * 0.75) })];
  t.match(report(records, CLOSED, half).get('alpha'), { requests: 2, implausibleRequests: 2, flaggedEpochs: [EPOCH] });
  t.match(report(records, CLOSED, half, { ...rules, implausibleToFlag: 0 }).get('alpha'), { flaggedEpochs: [] }, '0 never flags');
});

t.test('canary verdicts: a canary record replaces the mark of its request, whichever comes first', async (t) => {
  const mark = { reference: 'beta', digest: 'sha256:a80c4f17acd5', passed: true };
  const req = request({ id: 'canary-1', canary: mark });
  const failed = canary({ requestId: 'canary-1', passed: false, reason: 'different answer' });
  for (const order of [
    [req, failed],
    [failed, req],
  ]) {
    t.match(report(order).get('alpha'), { canariesPassed: 0, canariesFailed: 1, flaggedEpochs: [EPOCH], validatedCredit: 0 });
  }
  t.match(report([req]).get('alpha'), { canariesPassed: 1, canariesFailed: 0, checksPassed: 2 }, 'the mark alone');
  t.match(
    report([request({ canary: { ...mark, passed: null } })]).get('alpha'),
    { canariesPassed: 0, canariesFailed: 0 },
    'no verdict yet',
  );
  t.match(report([canary()]).get('alpha'), { canariesPassed: 1, requests: 0 }, 'a verdict without a request record');
});

t.test('a size claimed by one node counts in full once a canary against another node confirms its digest', async (t) => {
  const big = traffic(
    'alpha',
    { digest: 'sha256:70b', parameterSize: '70B', completionTokensReported: 60, completionTokensObserved: 60, durationMs: 2000 },
    1,
  );
  t.match(report(big).get('alpha'), { requestCredit: 0.528 }, '8 × (60 + 0.2 × 30) / 1000');
  const confirmed = [...big, canary({ digest: 'sha256:70b', reference: 'beta' })];
  t.match(report(confirmed).get('alpha'), { requestCredit: 4.62 }, '70 × 66 / 1000');
  t.match(
    report([...big, canary({ digest: 'sha256:70b', reference: null })]).get('alpha'),
    { requestCredit: 0.528 },
    'a verdict with no reference confirms nothing',
  );
});

t.test('flags cost their epoch; records of other epochs are not counted', async (t) => {
  const flagged = report([...traffic('alpha'), flag({ epoch: EPOCH })]).get('alpha')!;
  t.match(flagged, { flaggedEpochs: [EPOCH], validatedCredit: 0, forfeitedCredit: 3.392 });
  const elsewhere = report([
    ...traffic('alpha'),
    flag({ epoch: EPOCH + 1 }),
    request({ time: at(DAY_MS + 5) }),
    request({ time: at(-5) }),
  ]).get('alpha')!;
  t.match(elsewhere, { requests: 10, flaggedEpochs: [], validatedCredit: 3.392 });
  t.match(
    report([flag({ node: 'ghost', epoch: EPOCH })]).get('ghost'),
    { requests: 0, flaggedEpochs: [EPOCH] },
    'a flagged node is listed',
  );
});

t.test('a window over two epochs settles each on its own; report() can be asked again', async (t) => {
  const twoDays: RewardsWindow = { fromMs: T0, toMs: T0 + 2 * DAY_MS };
  const tally = new RewardsTally(rules, twoDays);
  t.equal(tally.fromMs, T0);
  for (const r of [...traffic('alpha'), ...traffic('alpha', { time: at(DAY_MS + 60_000) }), flag({ epoch: EPOCH + 1 })]) tally.add(r);
  const first = tally.report(T0 + DAY_MS + 7_200_000);
  t.match(first, [
    { node: 'alpha', requests: 20, validatedCredit: 3.392, pendingCredit: 0, forfeitedCredit: 3.392, flaggedEpochs: [EPOCH + 1], share: 1 },
  ]);
  t.same(tally.report(T0 + DAY_MS + 7_200_000), first, 'the same answer again');
  t.same(new RewardsTally(rules, { fromMs: T0 + 5, toMs: T0 + 6 }).report(CLOSED), [], 'nothing in the window: no nodes');
});

t.test('uptime is weighed by the largest model the node was credited for, the default if none', async (t) => {
  const small = traffic('alpha', { digest: 'sha256:05b', parameterSize: '0.5B' }, 1);
  t.match(report([...small, ...probes('alpha')]).get('alpha'), { uptimeCredit: 1.2 }, '0.1 × 24 h × 0.5');
  const both = [...small, ...traffic('alpha', {}, 1), ...probes('alpha')];
  t.match(report(both).get('alpha'), { uptimeCredit: 7.68 }, '0.1 × 24 h × 3.2');
  t.match(report(probes('alpha')).get('alpha'), { uptimeCredit: 2.4, requests: 0 }, 'no traffic: 0.1 × 24 h × 1');
});
