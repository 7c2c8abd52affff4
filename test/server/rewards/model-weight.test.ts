import t from 'tap';
import { claimedWeight, ModelWeights, parameterBillions, weightKey } from '../../../src/server/rewards/model-weight.js';
import { DEFAULT_REWARD_RULES as rules } from '../../../src/server/rewards/rules.js';

t.test('parameter_size as Ollama writes it, in billions', async (t) => {
  const cases: [string | null | undefined, number | undefined][] = [
    ['3.2B', 3.2],
    ['70B', 70],
    ['405M', 0.405],
    ['1.5T', 1500],
    ['8b', 8],
    [' 7B ', 7],
    ['22.7K', 0.0000227],
    ['', undefined],
    ['3.2', undefined],
    ['B', undefined],
    ['0B', undefined],
    ['-3B', undefined],
    ['3.2 GB', undefined],
    [null, undefined],
    [undefined, undefined],
  ];
  for (const [size, billions] of cases) t.equal(parameterBillions(size), billions, String(size));
});

t.test('a claimed weight: the size, the default when unknown, within bounds', async (t) => {
  t.equal(claimedWeight('3.2B', rules), 3.2);
  t.equal(claimedWeight(null, rules), 1, 'unknown: the default');
  t.equal(claimedWeight('5T', rules), 1000, 'capped at maxModelWeight');
  t.equal(claimedWeight('1K', rules), 0.01, 'a floor, so a ceiling divided by it stays finite');
});

t.test("a model's weight is what most nodes serving its digest claim; a lone claim counts once confirmed", async (t) => {
  const w = new ModelWeights(rules);
  t.equal(w.weight('nobody'), 1, 'no claim: the default');

  w.claim('d70', 'alpha', '70B');
  t.equal(w.weight('d70'), 8, 'one node alone: at most unconfirmedModelWeight');
  t.equal(w.weight('d70', true), 70, 'confirmed by a canary against another node: in full');
  w.claim('d70', 'beta', '70B');
  t.equal(w.weight('d70'), 70, 'two nodes agree');
  w.claim('d70', 'griefer', '0.1B');
  t.equal(w.weight('d70'), 70, 'one node claiming less does not drag the others down');

  w.claim('d8', 'alpha', '8B');
  w.claim('d8', 'liar', '405B');
  t.equal(w.weight('d8'), 8, 'a tie goes to the smaller claim');
  w.claim('d8', 'liar', '8B');
  w.claim('d8', 'liar', '405B');
  t.equal(w.weight('d8'), 8, "a node's smallest claim is its claim");

  w.claim('small', 'alpha', '3.2B');
  t.equal(w.weight('small'), 3.2, 'a lone claim under the cap stands');
  w.claim('unsized', 'alpha', undefined);
  t.equal(w.weight('unsized'), 1, 'no size given: the default');
});

t.test('models are weighed by digest, by name when the digest is unknown', async (t) => {
  t.equal(weightKey({ digest: 'sha256:abc', model: 'llama3.2' }), 'sha256:abc');
  t.equal(weightKey({ digest: null, model: 'llama3.2' }), 'name:llama3.2');
});
