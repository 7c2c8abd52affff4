import fs from 'node:fs';
import t from 'tap';
import { silentLogger } from '../../../src/log.js';
import { liveLedgerPath } from '../../../src/server/ledger/ledger-files.js';
import type { FlagRecord } from '../../../src/server/ledger/ledger-record.js';
import { flagUntilMs, seedFlags } from '../../../src/server/verify/flagged-nodes.js';

const DAY_MS = 24 * 3600 * 1000;
const rules = { epochLengthMs: DAY_MS, epochOriginMs: 0, settleMs: 3600 * 1000 };

t.test('a restart reads back the flags of unsettled epochs, and only those', async (t) => {
  const dataDir = t.testdir();
  const now = 20_000 * DAY_MS + 30 * 60 * 1000; // 00:30 of epoch 20000: epoch 19999 is still settling
  const flag = (node: string, epoch: number, timeMs: number): FlagRecord => ({
    type: 'flag',
    node,
    time: new Date(timeMs).toISOString(),
    epoch,
    reason: 'failed a canary',
  });
  const records = [
    flag('old', 19_998, 19_998 * DAY_MS + 1000), // closed: its epoch settled long ago
    flag('settling', 19_999, 19_999 * DAY_MS + 1000),
    flag('current', 20_000, now - 1000),
  ];
  fs.writeFileSync(liveLedgerPath(dataDir), records.map((r) => `${JSON.stringify(r)}\n`).join(''));
  const got = new Map<string, number>();
  const found = await seedFlags({ dataDir, rules, now, sink: { flag: (node, untilMs) => got.set(node, untilMs) }, logger: silentLogger });
  t.equal(found, 2);
  t.same(Object.fromEntries(got), {
    settling: 20_000 * DAY_MS + 3600 * 1000,
    current: 20_001 * DAY_MS + 3600 * 1000,
  });
  t.equal(flagUntilMs(rules, 20_000), 20_001 * DAY_MS + 3600 * 1000, "the epoch's end plus the settling time");
});

t.test('no ledger yet: no flags', async (t) => {
  const found = await seedFlags({
    dataDir: t.testdir(),
    rules,
    now: Date.now(),
    sink: { flag: () => t.fail('no flag') },
    logger: silentLogger,
  });
  t.equal(found, 0);
});
