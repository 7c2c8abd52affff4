import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import type { SkippedLine } from '../../../src/server/ledger/ledger-reader.js';
import { computeRewards, idleNodeRewards, parseTime, resolveWindow } from '../../../src/server/rewards/rewards-query.js';
import { DEFAULT_REWARD_RULES as rules } from '../../../src/server/rewards/rules.js';
import { at, DAY_MS, request, T0 } from '../../fixtures/ledger-records.js';

const NOW = T0 + DAY_MS / 2;

t.test('a query is an epoch (the current one by default) or a span; anything else is a usage error', async (t) => {
  t.same(resolveWindow({}, rules, NOW), { fromMs: T0, toMs: T0 + DAY_MS, epoch: 20089 });
  t.same(resolveWindow({ epoch: '20088' }, rules, NOW), { fromMs: T0 - DAY_MS, toMs: T0, epoch: 20088 });
  t.same(resolveWindow({ epoch: 5 }, { ...rules, epochLengthMs: 3_600_000, epochOriginMs: T0 }, NOW), {
    fromMs: T0 + 5 * 3_600_000,
    toMs: T0 + 6 * 3_600_000,
    epoch: 5,
  });
  t.same(resolveWindow({ from: '2025-01-01T06:00:00Z', to: '2025-01-01T12:00:00.000Z' }, rules, NOW), {
    fromMs: T0 + 6 * 3_600_000,
    toMs: NOW,
    epoch: undefined,
  });
  t.same(resolveWindow({ from: String(T0) }, rules, NOW), { fromMs: T0, toMs: NOW, epoch: undefined }, 'to defaults to now');
  t.same(resolveWindow({ from: '2025-01-01' }, rules, NOW).fromMs, T0, 'a date alone is its midnight UTC');
  const bad: Record<string, string | number>[] = [
    { epoch: 'x' },
    { epoch: '1.5' },
    { epoch: '' },
    { epoch: 3, from: '0' },
    { to: '5' },
    { from: 'yesterday' },
    { from: '2025-01-02', to: '2025-01-01' },
    { from: '5', to: '5' },
    { from: '2025-13-01' },
  ];
  for (const query of bad) t.throws(() => resolveWindow(query, rules, NOW), { code: 'PRX_ERR_USAGE' }, JSON.stringify(query));
  t.equal(parseTime(' 1735689600000 ', 'from'), T0);
});

t.test('computeRewards reads only what the window needs, and reports lines it skipped', async (t) => {
  const dataDir = t.testdir();
  const line = (r: object): string => JSON.stringify(r) + '\n';
  // A segment closed before the epoch began can hold nothing of it: it is not read, not even its bad line.
  fs.writeFileSync(path.join(dataDir, `ledger.${T0 - 1}.ndjson`), line(request({ time: at(-DAY_MS) })) + 'garbage\n');
  fs.writeFileSync(path.join(dataDir, `ledger.${T0 + 1000}.ndjson`), line(request({ time: at(-10) })) + line(request({ time: at(500) })));
  const beta = line(request({ node: 'beta' }));
  fs.writeFileSync(path.join(dataDir, 'ledger.ndjson'), beta + '{"torn":');
  const skipped: SkippedLine[] = [];
  const rows = await computeRewards({ dataDir, rules, window: resolveWindow({}, rules, NOW), nowMs: NOW, onSkip: (s) => skipped.push(s) });
  t.same(
    rows.map((r) => [r.node, r.requests, r.pendingCredit]),
    [
      ['alpha', 1, 0.3392],
      ['beta', 1, 0.3392],
    ],
  );
  t.same(
    rows.map((r) => r.share),
    [0.5, 0.5],
  );
  t.match(skipped, [{ file: path.join(dataDir, 'ledger.ndjson'), offset: beta.length, reason: /^incomplete last line/ }]);
  t.equal(skipped.length, 1);
});

t.test('an idle node reads as zeros', async (t) => {
  t.match(idleNodeRewards('quiet', rules), {
    node: 'quiet',
    requests: 0,
    availability: null,
    pendingCredit: 0,
    validatedCredit: 0,
    share: 0,
    flaggedEpochs: [],
  });
});
