import t from 'tap';
import { checkKeyPatch, makeKey } from '../../../src/server/keys/key-record.js';
import { startApiCluster } from '../../fixtures/stacks/api-cluster.js';

t.test("a stored key's owner: traffic to their own node is recorded as theirs, earns nothing and costs no credit", async (t) => {
  const cluster = await startApiCluster(t, { nodes: [{ name: 'alpha' }] });
  const { record, key } = makeKey('carol', checkKeyPatch({ nodes: ['alpha'], budget: { credits: 0.000001, per: 'day' } }), new Date());
  await cluster.server.keys.add(record); // the server's own store: in force once the write is durable
  const messages = [{ role: 'user' as const, content: 'hello there' }];
  const first = await cluster.openai(key).chat.completions.create({ model: 'llama3.2', messages });
  t.ok(first.choices[0]!.message.content);
  const usage = await cluster.nextUsage();
  t.match(usage, { keyId: record.id, keyOwner: ['alpha'], node: 'alpha', outcome: 'ok' });
  const second = await cluster.openai(key).chat.completions.create({ model: 'llama3.2', messages });
  t.ok(second.choices[0]!.message.content, 'the budget is untouched: own traffic costs nothing');
  const own = (await (await fetch(`${cluster.baseUrl}/v1/key`, { headers: { authorization: `Bearer ${key}` } })).json()) as {
    usage: { creditsToday: number; tokensThisMinute: number };
  };
  t.equal(own.usage.creditsToday, 0);
  t.ok(own.usage.tokensThisMinute > 0, 'its tokens still count against tokens per minute');
});
