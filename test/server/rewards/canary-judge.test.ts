import t from 'tap';
import { judgeCanary } from '../../../src/server/rewards/canary-judge.js';

const REFERENCE = 'The quick brown fox jumps over the lazy dog, then naps in the afternoon sun by the river.';

t.test('the same answer with the same count passes', async (t) => {
  t.same(judgeCanary({ text: REFERENCE, completionTokensReported: 22 }, { text: REFERENCE, completionTokensReported: 22 }), {
    passed: true,
    reason: `the answers agree on the first ${REFERENCE.length} characters`,
  });
  t.equal(
    judgeCanary({ text: REFERENCE, completionTokensReported: null }, { text: REFERENCE, completionTokensReported: 22 }).passed,
    true,
    'no count to compare',
  );
});

t.test('answers that drift late (GPU nondeterminism) pass; another model fails at once', async (t) => {
  const drifted = REFERENCE.slice(0, 50) + ' and then it ran away.';
  t.equal(judgeCanary({ text: drifted, completionTokensReported: 17 }, { text: REFERENCE, completionTokensReported: 22 }).passed, true);
  const other = judgeCanary(
    { text: 'A lazy dog sleeps while the fox jumps.', completionTokensReported: 10 },
    { text: REFERENCE, completionTokensReported: 22 },
  );
  t.same(other, { passed: false, reason: 'the answers differ after 0 characters (32 must agree)' });
  t.equal(
    judgeCanary({ text: '', completionTokensReported: 0 }, { text: 'Hi.', completionTokensReported: 2 }).passed,
    false,
    'an empty answer',
  );
  t.equal(
    judgeCanary({ text: 'Hi.', completionTokensReported: 2 }, { text: 'Hi.', completionTokensReported: 2 }).passed,
    true,
    'a short reference must agree whole',
  );
});

t.test('a count inflated for the same text fails (an inflater, or a chunk-splitter reporting to match)', async (t) => {
  const ref = { text: REFERENCE, completionTokensReported: 22 };
  t.equal(judgeCanary({ text: REFERENCE, completionTokensReported: 26 }, ref).passed, true, 'within tolerance');
  t.same(judgeCanary({ text: REFERENCE, completionTokensReported: 88 }, ref), {
    passed: false,
    reason: 'reported 88 tokens where the reference implies at most 26',
  });
});

t.test('no reference answer: no verdict', async (t) => {
  t.same(judgeCanary({ text: 'x', completionTokensReported: 1 }, { text: '', completionTokensReported: 0 }), {
    passed: null,
    reason: 'the reference answer is empty',
  });
});
