/**
 * Issue 18: rewards must not punish honest speed. A real super node and real proxima-client
 * processes in front of fake Ollamas that answer at once, with the default speed rules (1,000
 * tokens/s at most, three implausible requests forfeit the epoch). A node whose answers are short
 * (10 tokens, the size of a tool call) is credited for every one, however fast; a node that sends
 * 2,000 tokens at once is still judged implausible, streamed or not. The verdicts are read with the
 * real `proxima-server rewards --json` on the data folder.
 */

import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import type { RequestRecord } from '../../../src/server/ledger/ledger-record.js';
import { judgeRequest } from '../../../src/server/rewards/request-credit.js';
import { DEFAULT_REWARD_RULES } from '../../../src/server/rewards/rules.js';
import { runNode } from '../../fixtures/processes/run-bin.js';
import { collect, startApiCluster } from '../../fixtures/stacks/api-cluster.js';
import { tempDir } from '../../fixtures/stacks/control-plane.js';

const SHORT = { name: 'llama3.2:latest', parameterSize: '3.2B', answerTokens: 10 };
// An 8B claim: 625 tokens/s at most, so 2,000 tokens need 3.2 s; the fake sends them in well under 1 s.
const LONG = { name: 'qwen2.5:0.5b', parameterSize: '8B', answerTokens: 2000 };

t.test('a fast honest node is credited for short answers; a node sending 2,000 tokens at once is not', async (t) => {
  const cluster = await startApiCluster(t, {
    nodes: [
      { name: 'quick', models: [SHORT] },
      { name: 'racer', models: [LONG] },
    ],
  });
  const fromMs = Date.now();
  const served: RequestRecord[] = [];
  const ask = async (model: string, how: 'openai-stream' | 'openai' | 'ollama-stream' | 'ollama'): Promise<RequestRecord> => {
    const messages = [{ role: 'user' as const, content: `what is the weather in Tokyo? (${how})` }];
    if (how === 'openai-stream') await collect(await cluster.openai().chat.completions.create({ model, messages, stream: true }));
    else if (how === 'openai') await cluster.openai().chat.completions.create({ model, messages });
    else if (how === 'ollama-stream') for await (const _ of await cluster.ollama().chat({ model, messages, stream: true }));
    else await cluster.ollama().chat({ model, messages, stream: false });
    const record = await cluster.nextUsage();
    served.push(record);
    return record;
  };
  const ways = ['openai-stream', 'openai', 'ollama-stream', 'ollama'] as const;
  for (const how of ways) {
    const r = await ask('llama3.2', how);
    t.same([r.node, r.outcome, r.completionTokensReported], ['quick', 'ok', SHORT.answerTokens], `quick answered (${how})`);
    const generationMs = r.stream && r.ttftMs !== null ? r.durationMs - r.ttftMs : r.durationMs;
    t.comment(`quick, ${how}: ${r.completionTokensReported} tokens, ${r.durationMs} ms in all, ${generationMs} ms generating`);
    t.equal(judgeRequest(r, DEFAULT_REWARD_RULES).kind, 'credited', `a 10-token answer is credited (${how})`);
    const before = judgeRequest(r, { ...DEFAULT_REWARD_RULES, minTokensForSpeed: 0 });
    t.comment(`judged on speed alone (minTokensForSpeed 0): ${before.kind === 'implausible' ? before.reason : before.kind}`);
  }
  for (const how of ways) {
    const r = await ask('qwen2.5:0.5b', how);
    t.same([r.node, r.outcome, r.completionTokensReported], ['racer', 'ok', LONG.answerTokens], `racer answered (${how})`);
    t.comment(`racer, ${how}: ${r.completionTokensReported} tokens in ${r.durationMs} ms (ttft ${r.ttftMs} ms)`);
    t.match(judgeRequest(r, DEFAULT_REWARD_RULES), { kind: 'implausible', reason: /^2000 tokens in .* is over 625\/s/ }, how);
  }
  const toMs = Date.now() + 1;

  const dir = tempDir(t);
  const file = path.join(dir, 'server.yaml');
  fs.writeFileSync(file, `dataDir: ${JSON.stringify(cluster.server.config.dataDir)}\n`);
  const cli = await runNode('bin/proxima-server.js', ['rewards', '-c', file, '--from', String(fromMs), '--to', String(toMs), '--json']);
  t.equal(cli.code, 0, cli.stderr);
  const rows = new Map((JSON.parse(cli.stdout) as { node: string; [k: string]: unknown }[]).map((r) => [r.node, r]));
  const quick = rows.get('quick')!;
  t.same(
    [quick.requests, quick.creditedRequests, quick.implausibleRequests, quick.flaggedEpochs],
    [4, 4, 0, []],
    'quick: four requests, four credited, none implausible, no flag',
  );
  t.equal(quick.completionTokens, 4 * SHORT.answerTokens);
  t.ok((quick.pendingCredit as number) > 0, `quick earns ${quick.pendingCredit} credits`);
  t.equal(quick.forfeitedCredit, 0);
  const racer = rows.get('racer')!;
  t.same([racer.requests, racer.creditedRequests, racer.implausibleRequests], [4, 0, 4], 'racer: four implausible requests');
  t.equal((racer.flaggedEpochs as number[]).length, 1, 'racer forfeits the epoch');
  t.equal(racer.pendingCredit, 0);
  t.equal(served.length, 8);
});
