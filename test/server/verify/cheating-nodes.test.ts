/**
 * Issue 5's cheat tests: a real super node and real proxima-client processes in front of fake
 * Ollamas, all sharing one model and digest. Two honest nodes, one that inflates eval_count, one
 * that serves another model under the shared name, one whose owner farms it with their own key,
 * one that hangs. User traffic goes through the real API with the official clients; every request
 * is followed by a canary; probes run every second. Then `proxima-server rewards --json` (the real
 * CLI on the data folder) must settle the window as the rules say.
 */

import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { modelKey } from '../../../src/proto/llm/model-name.js';
import type { LedgerRecord, RequestRecord } from '../../../src/server/ledger/ledger-record.js';
import { runNode } from '../../fixtures/processes/run-bin.js';
import { type ApiCluster, collect, startApiCluster, TEST_KEY } from '../../fixtures/stacks/api-cluster.js';
import { tempDir } from '../../fixtures/stacks/control-plane.js';
import { routingTarget, seededRandom } from '../../fixtures/stacks/routing-target.js';

const MODEL = {
  name: 'llama3.2:latest',
  digest: 'a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72',
  parameterSize: '3.2B',
  answerTokens: 24,
};
const WEIGHT = 3.2;
const FARMER_KEY = 'sk-proxima-farmer-0123456789';
const PROBE_INTERVAL_MS = 1000;
const REWARDS = {
  canaryShare: 1,
  newNodeCanaryShare: 1,
  probeIntervalMs: PROBE_INTERVAL_MS,
  probeTimeoutMs: 300,
  canaryTimeoutMs: 5000,
  canaryMaxTokens: 8,
  maxTokensPerSecond: 1_000_000,
  maxTokensPerSecondAt1B: 10_000_000,
  uptimeCreditPerHour: 0.1,
  promptTokenWeight: 0.2,
};
const HONEST = ['honest-a', 'honest-b'];
/**
 * The inflater reports 1.5 times the tokens it sends: past the canary's tolerance (10 % + 1), yet
 * believed on whole answers, whose text bounds the count loosely (docs/rewards.md "Credit"): only canaries catch it.
 */
const CHEATS = ['inflater', 'impostor'];

/** What the rules give a node for its records in the window: requests it served for others' keys, and passed probes. */
function expectedCredit(records: LedgerRecord[], node: string): number {
  let tokens = 0;
  for (const r of records) {
    if (r.type !== 'request' || r.node !== node || r.outcome !== 'ok' || r.keyOwner.includes(node)) continue;
    tokens += r.completionTokensReported! + REWARDS.promptTokenWeight * r.promptTokensReported!;
  }
  const passed = records.filter((r) => r.type === 'probe' && r.node === node && r.ok).length;
  const uptime = REWARDS.uptimeCreditPerHour * ((passed * PROBE_INTERVAL_MS) / 3_600_000) * WEIGHT;
  return (WEIGHT * tokens) / 1000 + uptime;
}

t.test('cheating nodes earn nothing, and the honest share is unharmed', async (t) => {
  const target = routingTarget();
  const cluster: ApiCluster = await startApiCluster(t, {
    nodes: [
      ...HONEST.map((name) => ({ name })),
      { name: 'inflater', fake: { faults: { evalCountFactor: 1.5 } } },
      { name: 'impostor', fake: { faults: { serveModel: 'mistral:7b' } } },
      { name: 'farmer' },
      { name: 'staller' },
    ].map((n) => ({ ...n, models: [MODEL], maxConcurrent: 2 })),
    // Cheats keep getting users here after their flag, to prove they earn nothing from them (the
    // router keeps flagged and failing nodes from users by default: test/e2e/api/health-routing.test.ts).
    routing: { avoidFlagged: false, breaker: { failures: 1000 } },
    api: {
      keys: [
        { id: 'tester', key: TEST_KEY },
        { id: 'farmer-own', key: FARMER_KEY, nodes: ['farmer'] },
      ],
    },
    rewards: REWARDS,
    random: target.random,
    checksRandom: seededRandom(5),
  });
  target.attach(cluster.server, modelKey(MODEL.name)!);
  cluster.fakes.staller!.configure({ hung: true });
  const fromMs = Date.now();
  // The staller's next probe starts after fromMs and gets nothing back.
  await cluster.probe((p) => p.node === 'staller' && !p.ok && Date.parse(p.time) >= fromMs);

  const served: RequestRecord[] = [];
  const ask = async (node: string, how: 'openai-stream' | 'openai' | 'ollama', key = TEST_KEY): Promise<void> => {
    target.node = node;
    const messages = [{ role: 'user' as const, content: `hello from a user of ${node} (${how})` }];
    if (how === 'ollama') {
      await cluster.ollama(key).chat({ model: 'llama3.2', messages, stream: false });
    } else if (how === 'openai') {
      await cluster.openai(key).chat.completions.create({ model: 'llama3.2', messages });
    } else {
      await collect(await cluster.openai(key).chat.completions.create({ model: 'llama3.2', messages, stream: true }));
    }
    const record = await cluster.nextUsage();
    t.equal(record.node, node, `the request went to ${node}`);
    served.push(record);
    // Its canary (share 1.0) is over before the next request, so every node is idle again.
    await cluster.canary((o) => o.request.node === node && Date.parse(o.request.time) >= Date.parse(record.time));
  };
  for (const how of ['openai-stream', 'openai', 'ollama'] as const) {
    for (const node of [...HONEST, ...CHEATS, 'farmer']) await ask(node, how);
    await ask('farmer', how, FARMER_KEY);
  }
  const toMs = Date.now() + 1;

  // Every canary got a verdict: honest ones passed, cheats failed and were flagged.
  for (const o of cluster.canaries) {
    const cheat = CHEATS.includes(o.request.node);
    t.equal(o.verdict?.passed, !cheat, `${o.request.node}'s canary: ${o.verdict?.reason}`);
    t.equal(o.request.keyId, null);
    t.equal(o.flag !== null, cheat);
    t.not(o.verdict?.reference, o.request.node, 'the reference is another node');
  }
  t.equal(cluster.canaries.length, served.length);

  const dir = tempDir(t);
  const file = path.join(dir, 'server.yaml');
  fs.writeFileSync(file, `dataDir: ${JSON.stringify(cluster.server.config.dataDir)}\nrewards: ${JSON.stringify(REWARDS)}\n`);
  const cli = await runNode('bin/proxima-server.js', ['rewards', '-c', file, '--from', String(fromMs), '--to', String(toMs), '--json']);
  t.equal(cli.code, 0, cli.stderr);
  const rows = new Map((JSON.parse(cli.stdout) as { node: string; [k: string]: unknown }[]).map((r) => [r.node, r]));
  const records = fs
    .readFileSync(path.join(cluster.server.config.dataDir, 'ledger.ndjson'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as LedgerRecord)
    .filter((r) => Date.parse(r.time) >= fromMs && Date.parse(r.time) < toMs);

  for (const node of CHEATS) {
    const row = rows.get(node)!;
    t.equal(row.pendingCredit, 0, `${node}: no pending credit`);
    t.equal(row.validatedCredit, 0, `${node}: no validated credit`);
    t.equal((row.flaggedEpochs as number[]).length, 1, `${node} is flagged for the epoch`);
    t.equal(row.canariesFailed, 3);
    // The user requests pass every request rule: only canaries catch these nodes. (The inflater's
    // canaries are implausible too: 12 tokens reported where 8 were asked for.)
    t.equal(row.creditedRequests, node === 'inflater' ? 3 : 6, `${node}'s user requests pass the request rules`);
    t.ok((row.forfeitedCredit as number) > 0, `${node} forfeited what it would have earned`);
    t.equal(row.share, 0);
  }
  const farmer = rows.get('farmer')!;
  t.equal(farmer.ownKeyRequests, 3, 'the farmer served its owner three times');
  t.equal(farmer.canariesPassed, 6);
  t.ok(Math.abs((farmer.pendingCredit as number) - expectedCredit(records, 'farmer')) <= 1e-6, 'own-key traffic earns the farmer nothing');
  const staller = rows.get('staller')!;
  t.equal(staller.requests, 0);
  t.equal(staller.probesPassed, 0);
  t.ok((staller.probes as number) >= 1);
  t.equal(staller.availability, 0);
  t.equal(staller.pendingCredit, 0);

  let honestTotal = 0;
  for (const node of HONEST) {
    const row = rows.get(node)!;
    const expected = expectedCredit(records, node);
    t.ok(expected > 0);
    t.ok(
      Math.abs((row.pendingCredit as number) - expected) <= 1e-6,
      `${node}: ${row.pendingCredit} credits, as the rules give (${expected})`,
    );
    t.same(row.flaggedEpochs, []);
    t.equal(row.canariesPassed, 3);
    t.equal(row.canariesFailed, 0);
    t.equal(
      row.completionTokens,
      3 * MODEL.answerTokens + 3 * REWARDS.canaryMaxTokens,
      'billed tokens: 3 answers of 24 and 3 canaries of 8',
    );
    honestTotal += row.pendingCredit as number;
  }
  const total = [...rows.values()].reduce((sum, r) => sum + (r.pendingCredit as number), 0);
  for (const node of HONEST) {
    t.ok(Math.abs((rows.get(node)!.share as number) - (rows.get(node)!.pendingCredit as number) / total) <= 1e-6);
  }
  t.ok(
    Math.abs(honestTotal + (farmer.pendingCredit as number) - total) <= 1e-6,
    "all credit went to the honest nodes and the farmer's honest work",
  );
});
