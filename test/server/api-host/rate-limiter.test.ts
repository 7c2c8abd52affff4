import t from 'tap';
import { RateLimiter } from '../../../src/server/api-host/rate-limiter.js';

t.test('a bucket per key refills at the rate and tells how long to wait', async (t) => {
  const clock = { nowMs: 0 };
  const limiter = new RateLimiter({ ratePerMinute: 2, now: () => clock.nowMs });
  t.same(limiter.take('a'), { allowed: true });
  t.same(limiter.take('a'), { allowed: true });
  t.same(limiter.take('a'), { allowed: false, retryAfterMs: 30_000 });
  t.same(limiter.take('b'), { allowed: true }, 'another key has its own bucket');
  clock.nowMs = 15_000;
  t.same(limiter.take('a'), { allowed: false, retryAfterMs: 15_000 });
  clock.nowMs = 30_000;
  t.same(limiter.take('a'), { allowed: true });
  clock.nowMs = 10 * 60_000;
  t.same(
    [limiter.take('a'), limiter.take('a'), limiter.take('a').allowed],
    [{ allowed: true }, { allowed: true }, false],
    'the burst is capped',
  );
});

t.test('the number of remembered keys is bounded', async (t) => {
  const limiter = new RateLimiter({ ratePerMinute: 1, maxKeys: 2, now: () => 0 });
  limiter.take('a');
  t.equal(limiter.take('a').allowed, false);
  limiter.take('b');
  limiter.take('c');
  t.equal(limiter.take('a').allowed, true, 'a was forgotten, so it starts afresh');
  t.throws(() => new RateLimiter({ ratePerMinute: 0 }), RangeError);
});
