import t from 'tap';
import { billedTokens, judgeRequest, observedCompletionTokens } from '../../../src/server/rewards/request-credit.js';
import { DEFAULT_REWARD_RULES as rules } from '../../../src/server/rewards/rules.js';
import { request } from '../../fixtures/ledger-records.js';

t.test('an honest stream is billed what it reported', async (t) => {
  t.same(billedTokens(request(), rules), { prompt: 30, completion: 100, clamped: false });
  t.same(judgeRequest(request(), rules), { kind: 'credited', tokens: { prompt: 30, completion: 100, clamped: false } });
});

t.test('an inflated eval_count is billed what was observed: inflating never pays', async (t) => {
  t.same(billedTokens(request({ completionTokensReported: 1000 }), rules), { prompt: 30, completion: 100, clamped: true });
  t.same(
    billedTokens(request({ completionTokensReported: 112 }), rules),
    { prompt: 30, completion: 112, clamped: false },
    'inside the tolerance (10% + 2): believed',
  );
  t.same(
    billedTokens(request({ completionTokensReported: 113 }), rules),
    { prompt: 30, completion: 100, clamped: true },
    'past it: the observed count, no tolerance',
  );
  t.same(billedTokens(request({ completionTokensReported: 95 }), rules).completion, 95, 'reporting less than observed: the report');
});

t.test('splitting text into tiny chunks is bounded by the length of the text', async (t) => {
  // 100 real tokens of English (400 characters) sent as 400 one-character chunks.
  t.equal(billedTokens(request({ completionTokensObserved: 400 }), rules).completion, 100, 'splitting alone: the honest report stands');
  const both = request({ completionTokensObserved: 400, completionTokensReported: 400 });
  t.equal(observedCompletionTokens(both), 200, 'at most one token per 2 characters');
  t.same(
    billedTokens(both, rules),
    { prompt: 30, completion: 200, clamped: true },
    'splitting and inflating: at most ceil(chars / 2); canaries catch the rest',
  );
});

t.test('UTF-8 bytes, when counted, keep CJK text from being under-billed', async (t) => {
  // 100 tokens of Chinese: 130 characters, 390 bytes, one chunk a token.
  const cjk = request({ contentChars: 130, completionTokensObserved: 100 });
  t.equal(billedTokens(cjk, rules).completion, 65, 'by characters: ceil(130 / 2)');
  t.same(billedTokens({ ...cjk, contentBytes: 390 }, rules), { prompt: 30, completion: 100, clamped: false }, 'by bytes: the report');
  t.equal(billedTokens({ ...cjk, contentBytes: null }, rules).completion, 65, 'null bytes: characters');
});

t.test('a whole (non-streamed) answer is bounded by its text only', async (t) => {
  const whole = request({ stream: false, completionTokensObserved: 1 });
  t.equal(observedCompletionTokens(whole), 200);
  t.equal(billedTokens(whole, rules).completion, 100);
  t.equal(billedTokens({ ...whole, completionTokensReported: 300 }, rules).completion, 200, 'an inflated report: the bound, no tolerance');
});

t.test('cancelled by the user: billed what was delivered', async (t) => {
  const aborted = request({
    outcome: 'client_abort',
    finishReason: null,
    completionTokensReported: null,
    promptTokensReported: null,
    completionTokensObserved: 40,
    contentChars: 160,
    evalDurationNs: null,
  });
  t.same(billedTokens(aborted, rules), { prompt: 0, completion: 40, clamped: false });
  t.equal(
    billedTokens({ ...aborted, completionTokensReported: 300 }, rules).completion,
    40,
    'a report of more than was delivered is not believed',
  );
  t.equal(billedTokens(request({ completionTokensReported: null }), rules).completion, 100, 'no report: what was observed');
});

t.test('prompt tokens are bounded by the prompt text plus a chat template', async (t) => {
  t.equal(billedTokens(request({ promptTokensReported: 10_000, promptChars: 100 }), rules).prompt, 87);
  t.equal(billedTokens(request({ promptTokensReported: 80, promptChars: 100 }), rules).prompt, 80);
});

t.test('failed, truncated, self-dealing and implausible requests earn nothing', async (t) => {
  t.same(judgeRequest(request({ outcome: 'node_error' }), rules), { kind: 'failed' });
  t.same(judgeRequest(request({ outcome: 'timeout' }), rules), { kind: 'failed' });
  t.same(judgeRequest(request({ keyOwner: ['gamma', 'alpha'] }), rules), { kind: 'own_key' });
  t.same(judgeRequest(request({ keyOwner: ['gamma'] }), rules).kind, 'credited', "another owner's key");
  t.match(judgeRequest(request({ durationMs: 50, ttftMs: 5, evalDurationNs: 40_000_000 }), rules), {
    kind: 'implausible',
    reason: /is over 1000\/s/,
  });
  // The claimed size sets the ceiling: claiming a bigger model makes the check stricter.
  t.match(judgeRequest(request({ parameterSize: '405B' }), rules), { kind: 'implausible', reason: /over 12\/s/ });
  t.match(
    judgeRequest(request({ completionTokensReported: 5000 }), rules),
    { kind: 'implausible', reason: /5000 tokens in 1800 ms between the first and the last byte/ },
    'a gross inflation is judged on the report',
  );
});
