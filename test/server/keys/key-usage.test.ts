import t from 'tap';
import { KeyUsage, nextPeriodMs, periodStartMs, recordPrice, recordTokens, seedKeyUsage } from '../../../src/server/keys/key-usage.js';
import type { LedgerRecord } from '../../../src/server/ledger/ledger-record.js';
import { DEFAULT_REWARD_RULES as RULES } from '../../../src/server/rewards/rules.js';
import { probe, request } from '../../fixtures/ledger-records.js';

const DEC_31 = Date.UTC(2026, 11, 31, 23, 59, 30);
const iso = (ms: number): string => new Date(ms).toISOString();

t.test('a request is priced as the rewards price it; failed requests and the owner’s own node cost nothing', async (t) => {
  t.equal(recordTokens(request(), RULES), 130, '30 prompt + 100 completion tokens');
  t.equal(Math.round(recordPrice(request(), RULES) * 1e6) / 1e6, 0.3392, '3.2 × (100 + 0.2 × 30) / 1000, as in the rewards report');
  t.equal(recordPrice(request({ outcome: 'node_error' }), RULES), 0);
  t.equal(recordPrice(request({ outcome: 'timeout' }), RULES), 0);
  t.equal(recordPrice(request({ keyOwner: ['alpha'] }), RULES), 0);
  const aborted = request({ outcome: 'client_abort', completionTokensObserved: 10, contentChars: 40 });
  t.equal(Math.round(recordPrice(aborted, RULES) * 1e6) / 1e6, 0.0512, 'an abort pays for what was delivered: 3.2 × (10 + 6) / 1000');
});

t.test('periods are UTC days and calendar months', async (t) => {
  t.equal(iso(periodStartMs(DEC_31, 'day')), '2026-12-31T00:00:00.000Z');
  t.equal(iso(nextPeriodMs(DEC_31, 'day')), '2027-01-01T00:00:00.000Z');
  t.equal(iso(periodStartMs(DEC_31, 'month')), '2026-12-01T00:00:00.000Z');
  t.equal(iso(nextPeriodMs(DEC_31, 'month')), '2027-01-01T00:00:00.000Z');
  t.equal(iso(nextPeriodMs(Date.UTC(2027, 1, 10), 'month')), '2027-03-01T00:00:00.000Z');
});

t.test('requests and tokens of the last minute; credits of the day and month, which roll over', async (t) => {
  let nowMs = DEC_31 - 20_000;
  const usage = new KeyUsage(RULES, () => nowMs);
  usage.admitted('k');
  usage.admitted('k');
  usage.recorded(request({ keyId: 'k', time: iso(nowMs) }));
  usage.recorded(request({ keyId: null, time: iso(nowMs) }));
  t.same(usage.usage('k'), { requestsThisMinute: 2, tokensThisMinute: 130, creditsToday: 0.3392, creditsThisMonth: 0.3392 });
  t.same(usage.usage('other'), { requestsThisMinute: 0, tokensThisMinute: 0, creditsToday: 0, creditsThisMonth: 0 });
  nowMs += 30_000;
  t.equal(usage.tokensRetryAfterMs('k'), 30_000, 'the tokens leave the window a minute after their second');
  usage.recorded(request({ keyId: 'k', time: iso(nowMs) }));
  t.match(usage.usage('k'), { requestsThisMinute: 2, tokensThisMinute: 260, creditsToday: 0.6784 });
  nowMs += 30_000; // 2027-01-01T00:00:10Z: a new day and a new month
  t.same(usage.usage('k'), { requestsThisMinute: 0, tokensThisMinute: 130, creditsToday: 0, creditsThisMonth: 0 });
  nowMs += 60_000;
  t.equal(usage.usage('k').tokensThisMinute, 0);
});

t.test('at start, the month so far is read back from the ledger: requests with a key only, canaries not', async (t) => {
  const nowMs = Date.UTC(2026, 11, 15, 12);
  const usage = new KeyUsage(RULES, () => nowMs);
  const records: LedgerRecord[] = [
    request({ keyId: 'k', time: iso(Date.UTC(2026, 11, 1, 0, 0, 1)) }),
    request({ keyId: 'k', time: iso(Date.UTC(2026, 11, 15, 1)) }),
    request({ keyId: null, time: iso(Date.UTC(2026, 11, 15, 1)) }),
    request({ keyId: 'k', time: iso(Date.UTC(2026, 11, 15, 2)), canary: { reference: null, digest: 'd', passed: true } }),
    probe({ time: iso(Date.UTC(2026, 11, 15, 1)) }),
  ];
  const read = await seedKeyUsage(
    usage,
    (async function* () {
      yield* records;
    })(),
  );
  t.equal(read, 2);
  t.same(usage.usage('k'), { requestsThisMinute: 0, tokensThisMinute: 0, creditsToday: 0.3392, creditsThisMonth: 0.6784 });
});
