import t from 'tap';
import { Backoff, isFatal, pause, systemClock } from '../../src/client/reconnect.js';
import { ErrorCodes, ProximaError } from '../../src/errors.js';

t.test('delays double from initialDelayMs up to maxDelayMs, with full jitter over that ceiling', async (t) => {
  const half = new Backoff({ initialDelayMs: 100, maxDelayMs: 1_000, random: () => 0.5 });
  t.same(
    Array.from({ length: 7 }, () => half.next()),
    [50, 100, 200, 400, 500, 500, 500],
  );
  t.equal(half.attempt, 7);
  half.reset();
  t.equal(half.attempt, 0);
  t.equal(half.next(), 50, 'a reset starts over');
  const low = new Backoff({ initialDelayMs: 100, maxDelayMs: 1_000, random: () => 0 });
  const high = new Backoff({ initialDelayMs: 100, maxDelayMs: 1_000, random: () => 0.999999 });
  t.same(
    Array.from({ length: 5 }, () => low.next()),
    [0, 0, 0, 0, 0],
    'full jitter reaches down to 0',
  );
  t.same(
    Array.from({ length: 5 }, () => high.next()),
    [100, 200, 400, 800, 1_000],
    'and up to the ceiling',
  );
  const long = new Backoff({ initialDelayMs: 1, maxDelayMs: 3_600_000, random: () => 0.5 });
  for (let i = 0; i < 2_000; i++) long.next();
  t.equal(long.next(), 1_800_000, 'the exponent cannot overflow');
});

t.test('only a refused token or another protocol version is fatal', async (t) => {
  t.ok(isFatal(new ProximaError(ErrorCodes.AUTH_FAILED, 'no')));
  t.ok(isFatal(new ProximaError(ErrorCodes.VERSION_MISMATCH, 'no')));
  for (const code of [
    ErrorCodes.CONNECT_FAILED,
    ErrorCodes.HANDSHAKE_TIMEOUT,
    ErrorCodes.SESSION_REPLACED,
    ErrorCodes.SERVER_DRAINING,
    ErrorCodes.HANDSHAKE_MAGIC,
  ]) {
    t.notOk(isFatal(new ProximaError(code, 'retry')), code);
  }
  t.notOk(isFatal(new Error('ECONNRESET')));
  t.notOk(isFatal(undefined));
});

t.test('a pause ends when its timer fires, or at once when cut short (cancelling the timer)', async (t) => {
  const timers: { fn: () => void; ms: number; cancelled: boolean }[] = [];
  const clock = {
    ...systemClock,
    schedule(fn: () => void, ms: number) {
      const timer = { fn, ms, cancelled: false };
      timers.push(timer);
      return () => void (timer.cancelled = true);
    },
  };
  let ended = false;
  const first = pause(clock, 250);
  void first.done.then(() => (ended = true));
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(ended, false, 'not before the timer fires');
  t.equal(timers[0]!.ms, 250);
  timers[0]!.fn();
  await first.done;
  const second = pause(clock, 60_000);
  second.cutShort();
  await second.done;
  t.equal(timers[1]!.cancelled, true);
});
