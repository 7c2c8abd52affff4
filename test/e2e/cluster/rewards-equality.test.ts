/**
 * `proxima-server rewards --json` gives the same numbers for the same requests whether one instance
 * on the JSON data folder served them or three instances on PostgreSQL did (behind nginx, so most
 * requests cross to the instance holding their node). The workload is fixed: per node, requests
 * for the model only that node has (so routing cannot differ), streamed and not, OpenAI and native.
 * Probes and canaries are off (their timing is not the workload's), so every field must be equal.
 */
import { setTimeout as delay } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { type FakeOllama, startFakeOllama } from '../../fixtures/fakes/ollama/fake-ollama.js';
import { POSTGRES_SKIP } from '../../fixtures/postgres.js';
import { findNginx } from '../../fixtures/processes/nginx.js';
import { runNode } from '../../fixtures/processes/run-bin.js';
import { startCluster } from '../../fixtures/stacks/cluster.js';
import { startProcessNetwork } from '../../fixtures/stacks/process-network.js';
import { type RawRequestOptions, rawRequest } from '../../fixtures/wire/raw-http.js';

const nginxBin = await findNginx();
const skip = POSTGRES_SKIP || (nginxBin === undefined ? 'nginx not found and not installable here' : false);
const NODES = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6'];
/** No probe within the test (the first comes after half an interval), no canary. */
const QUIET = 'rewards: { probeIntervalMs: 1h, canaryShare: 0, newNodeCanaryShare: 0 }';

async function fakes(t: Test): Promise<Record<string, FakeOllama>> {
  const out: Record<string, FakeOllama> = {};
  for (const [i, name] of NODES.entries()) {
    out[name] = await startFakeOllama({ models: [{ name: `m${i + 1}`, parameterSize: `${i + 1}B`, answerTokens: 10 + i }] });
    t.teardown(() => out[name]!.destroy());
  }
  return out;
}

/** The fixed workload, sent one request after the other through `url(path)`; the statuses (with the error code of any other than 200). */
async function workload(url: (p: string) => string, options: RawRequestOptions): Promise<string[]> {
  const statuses: string[] = [];
  const post = async (p: string, body: unknown): Promise<void> => {
    const res = await rawRequest(url(p), {
      ...options,
      method: 'POST',
      headers: { ...options.headers, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    statuses.push(res.status === 200 ? '200' : `${res.status} ${res.headers['proxima-error']} ${res.text.slice(0, 200)}`);
  };
  for (const [i] of NODES.entries()) {
    const model = `m${i + 1}`;
    const messages = [{ role: 'user', content: `hello number ${i}` }];
    await post('/v1/chat/completions', { model, messages, stream: true });
    await post('/v1/chat/completions', { model, messages, stream: false, max_tokens: 64 });
    await post('/api/chat', { model, messages });
    await post('/api/generate', { model, prompt: `a prompt of node ${i}`, stream: false });
  }
  return statuses;
}

/**
 * `rewards --json` from `from` on, sorted by node, once it counts `requests` requests (each record is
 * written as its answer ends, and reaches the file or PostgreSQL a moment later; deadline 10 s).
 */
async function rewards(file: string, cwd: string, from: string, requests: number): Promise<{ node: string; requests: number }[]> {
  for (const deadline = Date.now() + 10_000; ; await delay(100)) {
    const out = await runNode('bin/proxima-server.js', ['rewards', '--json', '--from', from, '-c', file], cwd);
    if (out.code !== 0) throw new Error(`rewards failed (${out.code}): ${out.stderr}`);
    const rows = (JSON.parse(out.stdout) as { node: string; requests: number }[]).sort((a, b) => a.node.localeCompare(b.node));
    if (rows.reduce((sum, r) => sum + r.requests, 0) >= requests || Date.now() > deadline) return rows;
  }
}

t.test('the same workload: one instance on JSON and three on PostgreSQL give the same rewards', { skip, timeout: 240_000 }, async (t) => {
  const expected = Array(NODES.length * 4).fill('200');
  let single: { node: string; requests: number }[] = [];
  await t.test('one instance, JSON data folder', async (t) => {
    const from = new Date().toISOString();
    const net = await startProcessNetwork(t, await fakes(t), [QUIET]);
    t.same(await workload((p) => `${net.base}${p}`, {}), expected, 'every request answered');
    single = await rewards(net.serverFile, net.dir, from, expected.length);
    t.equal(single.length, NODES.length);
  });
  await t.test('three instances on PostgreSQL behind nginx', async (t) => {
    const from = new Date().toISOString();
    const cluster = await startCluster(t, { instances: 3, nodes: await fakes(t), serverLines: [QUIET] });
    const via = { socketPath: cluster.nginx!.httpSocket };
    t.same(await workload((p) => `http://api.example.com${p}`, via), expected, 'every request answered');
    const three = await rewards(cluster.instances[0]!.file, cluster.dir, from, expected.length);
    t.same(three, single, 'rewards --json: identical, field by field');
    t.comment(`requests per node: ${three.map((r) => `${r.node} ${r.requests}`).join(', ')}`);
  });
});
