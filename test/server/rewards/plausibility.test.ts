import t from 'tap';
import { implausibility, tokensPerSecondCeiling } from '../../../src/server/rewards/plausibility.js';
import { DEFAULT_REWARD_RULES as rules } from '../../../src/server/rewards/rules.js';
import { request } from '../../fixtures/ledger-records.js';

t.test('the speed ceiling falls with model size, under an absolute one', async (t) => {
  t.equal(tokensPerSecondCeiling(0.5, rules), 1000);
  t.equal(tokensPerSecondCeiling(3.2, rules), 1000);
  t.equal(tokensPerSecondCeiling(8, rules), 625);
  t.equal(tokensPerSecondCeiling(70, rules), 5000 / 70);
});

t.test('an honest request passes, streamed or not', async (t) => {
  t.equal(implausibility(request(), 100, 3.2, rules), undefined);
  // A whole answer arrives at once: its first byte is its last, but generation ran before it.
  const whole = request({ stream: false, ttftMs: 1990, durationMs: 2000, evalDurationNs: 1_900_000_000, completionTokensObserved: 1 });
  t.equal(implausibility(whole, 100, 3.2, rules), undefined);
  t.equal(implausibility(request({ maxTokensRequested: 100 }), 100, 3.2, rules), undefined, 'exactly the limit');
  t.equal(implausibility(request({ evalDurationNs: null, ttftMs: null }), 100, 3.2, rules), undefined, 'nothing reported to check');
  t.equal(
    implausibility(request({ completionTokensReported: 70, completionTokensObserved: 100 }), 70, 70, rules),
    undefined,
    '70B at 35/s',
  );
});

t.test('counts over the requested limit', async (t) => {
  t.equal(implausibility(request({ maxTokensRequested: 64 }), 100, 3.2, rules), 'reported 100 completion tokens; the request allowed 64');
  const splitter = request({ maxTokensRequested: 100, completionTokensReported: 100, completionTokensObserved: 400 });
  t.equal(implausibility(splitter, 100, 3.2, rules), 'sent 400 content chunks; the request allowed 100 tokens');
  t.equal(
    implausibility(request({ maxTokensRequested: 100, completionTokensObserved: 102 }), 100, 3.2, rules),
    undefined,
    'within the chunk slack',
  );
});

t.test('reported generation time longer than the super node saw', async (t) => {
  // Stream: 1800 ms between first and last byte, 1000 ms of slack.
  t.equal(implausibility(request({ evalDurationNs: 2_800_000_000 }), 100, 3.2, rules), undefined);
  t.equal(
    implausibility(request({ evalDurationNs: 2_900_000_000 }), 100, 3.2, rules),
    'reported 2900 ms of generation; the super node saw 1800 ms',
  );
  t.equal(
    implausibility(request({ stream: false, evalDurationNs: 3_100_000_000 }), 100, 3.2, rules),
    'reported 3100 ms of generation; the super node saw 2000 ms',
  );
});

t.test('tokens per second over the ceiling for the claimed size, between the first and the last byte', async (t) => {
  t.equal(
    implausibility(request({ durationMs: 100, ttftMs: 10, evalDurationNs: 80_000_000 }), 1000, 3.2, rules),
    '1000 tokens in 90 ms between the first and the last byte (11111/s) is over 1000/s for its size',
  );
  t.equal(
    implausibility(request(), 100, 405, rules),
    '100 tokens in 1800 ms between the first and the last byte (56/s) is over 12/s for its size',
    'a 405B claim at 56/s',
  );
  t.equal(implausibility(request({ ttftMs: 0, durationMs: 6000 }), 72, 405, rules), undefined, 'a 405B claim at 12/s');
  // A whole answer comes at once: its wait counts as generation (prompt evaluation and network included).
  const whole = request({ stream: false, ttftMs: 1990, durationMs: 2000, evalDurationNs: null });
  t.equal(implausibility(whole, 100, 405, rules), '100 tokens in 2000 ms for the whole answer (50/s) is over 12/s for its size');
  t.equal(implausibility(whole, 100, 8, rules), undefined, '8B at 50/s');
});

t.test('a stream whose first byte came late is judged on the time it spent generating', async (t) => {
  // 200 tokens at 1000/s is 200 ms; this node waited 1.9 s and then sent 200 tokens in 50 ms.
  const burst = request({ ttftMs: 1950, durationMs: 2000, evalDurationNs: 45_000_000, completionTokensObserved: 200, contentChars: 800 });
  t.equal(
    implausibility(burst, 200, 3.2, rules),
    '200 tokens in 50 ms between the first and the last byte (4000/s) is over 1000/s for its size',
  );
});

t.test('short answers are not judged on speed alone (rewards.minTokensForSpeed)', async (t) => {
  // The honest tool call of issue 18: 10 tokens in 6 ms through a fast fake, in one burst.
  const toolCall = request({ ttftMs: 5, durationMs: 6, evalDurationNs: 1_000_000, completionTokensObserved: 1, contentChars: 40 });
  t.equal(implausibility(toolCall, 10, 3.2, rules), undefined, '10 tokens in 1 ms of a stream');
  t.equal(implausibility({ ...toolCall, stream: false }, 10, 3.2, rules), undefined, '10 tokens in 6 ms of a whole answer');
  t.equal(implausibility(toolCall, 63, 3.2, rules), undefined, 'one under the default minimum');
  t.equal(
    implausibility(toolCall, 64, 3.2, rules),
    '64 tokens in 1 ms between the first and the last byte (64000/s) is over 1000/s for its size',
    'the minimum itself is judged',
  );
  t.equal(
    implausibility(toolCall, 10, 3.2, { ...rules, minTokensForSpeed: 0 }),
    '10 tokens in 1 ms between the first and the last byte (10000/s) is over 1000/s for its size',
    '0 judges every answer, as before',
  );
  // The other checks still hold for a short answer.
  t.equal(
    implausibility({ ...toolCall, evalDurationNs: 1_500_000_000 }, 10, 3.2, rules),
    'reported 1500 ms of generation; the super node saw 1 ms',
  );
  t.equal(
    implausibility({ ...toolCall, maxTokensRequested: 8, completionTokensReported: 10 }, 10, 3.2, rules),
    'reported 10 completion tokens; the request allowed 8',
  );
});
