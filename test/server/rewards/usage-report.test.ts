import t from 'tap';
import { DEFAULT_REWARD_RULES } from '../../../src/server/rewards/rules.js';
import { parseGrouping, UsageTally } from '../../../src/server/rewards/usage-report.js';
import { at, DAY_MS, probe, request, T0 } from '../../fixtures/ledger-records.js';

const WINDOW = { fromMs: T0, toMs: T0 + DAY_MS };

function tally(by: 'node' | 'key' | 'model') {
  const u = new UsageTally(by, DEFAULT_REWARD_RULES, WINDOW);
  for (const r of [
    request({ node: 'alpha', keyId: 'key-a' }),
    request({
      node: 'alpha',
      keyId: 'key-b',
      model: 'qwen2.5',
      outcome: 'node_error',
      completionTokensReported: null,
      contentChars: 40,
      completionTokensObserved: 10,
    }),
    request({ node: 'beta', keyId: 'key-a', outcome: 'client_abort', completionTokensReported: 500 }),
    request({ node: 'beta', keyId: null }),
    request({ node: 'beta', time: at(DAY_MS + 1) }),
    probe({ node: 'gamma' }),
  ])
    u.add(r);
  return u;
}

t.test('by node: requests, outcomes, billed tokens, models and the credit given', async (t) => {
  const rows = tally('node').report(new Map([['alpha', { credit: 1.5, forfeitedCredit: 0 }]]));
  t.same(rows, [
    {
      group: 'alpha',
      requests: 2,
      ok: 1,
      failed: 1,
      aborted: 0,
      promptTokens: 60,
      completionTokens: 110,
      models: ['llama3.2', 'qwen2.5'],
      credit: 1.5,
      forfeitedCredit: 0,
    },
    // The aborted request reported 500 tokens but delivered 100: billed 100, as the rewards do.
    {
      group: 'beta',
      requests: 2,
      ok: 1,
      failed: 0,
      aborted: 1,
      promptTokens: 60,
      completionTokens: 200,
      models: ['llama3.2'],
      credit: 0,
      forfeitedCredit: 0,
    },
  ]);
});

t.test('by key: key ids (null last) with their models and nodes', async (t) => {
  const rows = tally('key').report();
  t.same(
    rows.map((r) => [r.group, r.requests, r.models, r.nodes]),
    [
      ['key-a', 2, ['llama3.2'], ['alpha', 'beta']],
      ['key-b', 1, ['qwen2.5'], ['alpha']],
      [null, 1, ['llama3.2'], ['beta']],
    ],
  );
  t.equal(rows[0]!.credit, undefined, 'credit is for nodes only');
});

t.test('by model: the nodes that served it', async (t) => {
  t.same(
    tally('model')
      .report()
      .map((r) => [r.group, r.requests, r.ok, r.failed, r.aborted, r.nodes, r.models]),
    [
      ['llama3.2', 3, 2, 0, 1, ['alpha', 'beta'], undefined],
      ['qwen2.5', 1, 0, 1, 0, ['alpha'], undefined],
    ],
  );
});

t.test('a bad grouping names the choices', async (t) => {
  t.equal(parseGrouping('key'), 'key');
  t.throws(() => parseGrouping('user'), { code: 'PRX_ERR_USAGE', message: 'by must be one of node, key, model, not "user"' });
});
