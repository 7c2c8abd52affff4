import t from 'tap';
import { Breaker } from '../../../../src/server/models/routing/breakers.js';

const rules = { failures: 3, cooldownMs: 1_000, maxCooldownMs: 5_000 };

function clocked() {
  let nowMs = 0;
  const breaker = new Breaker(rules, () => nowMs);
  return { breaker, advance: (ms: number) => void (nowMs += ms), at: () => nowMs };
}

t.test('closed until `failures` in a row; a success between them starts the count again', async (t) => {
  const { breaker } = clocked();
  breaker.failure();
  breaker.failure();
  breaker.success();
  breaker.failure();
  breaker.failure();
  t.equal(breaker.state, 'closed');
  t.ok(breaker.admits());
  breaker.failure();
  t.equal(breaker.state, 'open');
  t.notOk(breaker.admits(), 'an open breaker takes no request');
  t.equal(breaker.trips, 1);
});

t.test('after the cooldown one trial goes (half-open); a second waits; success closes it', async (t) => {
  const { breaker, advance } = clocked();
  for (let i = 0; i < 3; i++) breaker.failure();
  advance(999);
  t.equal(breaker.state, 'open');
  advance(1);
  t.equal(breaker.state, 'half-open');
  t.ok(breaker.admits(), 'the trial may go');
  breaker.leased();
  t.notOk(breaker.admits(), 'one trial at a time');
  breaker.success();
  t.equal(breaker.state, 'closed');
  t.equal(breaker.trips, 0);
  t.equal(breaker.unhealthySinceMs, undefined);
  t.ok(breaker.admits());
});

t.test('a failed trial opens it again, each cooldown twice the last, capped', async (t) => {
  const { breaker, advance, at } = clocked();
  for (let i = 0; i < 3; i++) breaker.failure();
  const cooldowns: number[] = [breaker.openUntilMs - at()];
  for (let trip = 0; trip < 5; trip++) {
    advance(breaker.openUntilMs - at());
    t.equal(breaker.state, 'half-open');
    breaker.leased();
    breaker.failure(); // the trial failed: open at once, no count of three
    t.equal(breaker.state, 'open');
    cooldowns.push(breaker.openUntilMs - at());
  }
  t.same(cooldowns, [1_000, 2_000, 4_000, 5_000, 5_000, 5_000]);
  t.equal(breaker.unhealthySinceMs, 0, 'unhealthy since the first trip');
});

t.test('a trial that reports nothing (the user left) frees the trial; failures while open count once', async (t) => {
  const { breaker, advance } = clocked();
  for (let i = 0; i < 3; i++) breaker.failure();
  breaker.failure(); // a request that was already in flight when it opened
  t.equal(breaker.trips, 1);
  advance(1_000);
  breaker.leased();
  t.notOk(breaker.admits());
  breaker.released();
  t.ok(breaker.admits(), 'the next request is the trial');
  t.equal(breaker.state, 'half-open');
});
