import t from 'tap';
import { Epochs } from '../../../src/server/rewards/epochs.js';
import { DEFAULT_REWARD_RULES } from '../../../src/server/rewards/rules.js';
import { DAY_MS, T0 } from '../../fixtures/ledger-records.js';

t.test('default epochs are UTC days counted from 1970', async (t) => {
  const e = new Epochs(DEFAULT_REWARD_RULES);
  t.equal(e.of(T0), 20089);
  t.equal(e.of(T0 - 1), 20088);
  t.equal(e.of(T0 + DAY_MS - 1), 20089);
  t.equal(e.startMs(20089), T0);
  t.equal(e.endMs(20089), T0 + DAY_MS);
  t.equal(e.of(-1), -1, 'before the origin');
});

t.test('an epoch is open until its end, settling for settleMs after, then closed', async (t) => {
  const e = new Epochs({ epochLengthMs: 3_600_000, epochOriginMs: T0 + 900_000, settleMs: 600_000 });
  t.equal(e.of(T0 + 900_000), 0);
  t.equal(e.of(T0 + 899_999), -1);
  t.equal(e.of(T0 + 900_000 + 3 * 3_600_000 + 5), 3);
  const end = e.endMs(0);
  t.equal(end, T0 + 4_500_000);
  t.equal(e.state(0, end - 1), 'open');
  t.equal(e.state(0, end), 'settling');
  t.equal(e.state(0, end + 599_999), 'settling');
  t.equal(e.state(0, end + 600_000), 'closed');
});
