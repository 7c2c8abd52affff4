import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { startApiCluster } from '../../fixtures/stacks/api-cluster.js';

const MODEL = { name: 'llama3.2:latest', digest: 'a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72' };

t.test('probes: a node passes while it answers in time listing its models, and fails when it does not', async (t) => {
  const cluster = await startApiCluster(t, {
    nodes: [
      { name: 'steady', models: [MODEL] },
      { name: 'forgetful', models: [MODEL] },
      { name: 'hung', models: [MODEL] },
    ],
    rewards: { probeIntervalMs: '1s', probeTimeoutMs: '300ms' },
  });
  const since = Date.now();
  cluster.fakes.forgetful!.removeModel(MODEL.name); // the node still advertises it: its next probe finds it gone
  cluster.fakes.hung!.configure({ hung: true });
  const after = (node: string) => (p: { node: string; time: string }) => p.node === node && Date.parse(p.time) >= since;
  const [steady, forgetful, hung] = await Promise.all(['steady', 'forgetful', 'hung'].map((node) => cluster.probe(after(node))));

  t.equal(steady!.ok, true);
  t.same(steady!.models, [MODEL.name]);
  t.type(steady!.latencyMs, 'number');
  t.equal(forgetful!.ok, false, 'a model it advertises is no longer listed');
  t.type(forgetful!.latencyMs, 'number', 'it answered, in time');
  t.equal(hung!.ok, false, 'no answer within probeTimeoutMs');
  t.equal(hung!.latencyMs, null);
  t.ok(cluster.server.checks.prober.failing('hung'));
  t.notOk(cluster.server.checks.prober.failing('steady'));

  // Probes take no router slot and are no user traffic: the ledger holds probe records only.
  t.equal(cluster.server.models.router.inFlight('hung', 'ollama'), 0);
  await cluster.server.close();
  const types = new Set(
    fs
      .readFileSync(path.join(cluster.server.config.dataDir, 'ledger.ndjson'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { type: string }).type),
  );
  t.same([...types], ['probe']);
});
