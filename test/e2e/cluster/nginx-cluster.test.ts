/**
 * config/nginx/cluster.conf, run by the real nginx in front of two real proxima-server instances
 * (each on its own data folder: what nginx does does not depend on the instances sharing a store).
 * nginx -t on the shipped file; round robin over both; an instance killed with -9: every later
 * request is answered by the other (a refused connect goes to the next instance), while a POST
 * already sent to the dead one gets nginx's 502 and is never re-sent to the live one.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { startFakeOllama } from '../../fixtures/fakes/ollama/fake-ollama.js';
import { logLine, startBin } from '../../fixtures/processes/bin-process.js';
import type { LineChild } from '../../fixtures/processes/child-lines.js';
import { findNginx, startNginx } from '../../fixtures/processes/nginx.js';
import { CLUSTER_CONF, checkableClusterConfig, deriveClusterConfig } from '../../fixtures/processes/nginx-cluster.js';
import { makeTestCertificate, testPaths } from '../../fixtures/processes/nginx-config.js';
import { startProcessNetwork } from '../../fixtures/stacks/process-network.js';
import { rawRequest, sendRequest } from '../../fixtures/wire/raw-http.js';

const nginxBin = await findNginx();
const skip = nginxBin === undefined ? 'nginx (and openssl) not found, and not installable here (needs root and apt-get)' : false;

/** The requestIds of the access lines an instance wrote so far. */
const accessIds = (run: LineChild): string[] =>
  run.lines.flatMap((line) => {
    try {
      const parsed = JSON.parse(line) as { component?: string; msg?: string; requestId?: string };
      return parsed.component === 'access' && parsed.msg === 'request' ? [String(parsed.requestId)] : [];
    } catch {
      return [];
    }
  });

/** Polls (deadline 5 s) until `count()` stops growing short of `expected`; the value then. Access lines come on another pipe than the answers. */
async function settle(count: () => number, expected: number): Promise<number> {
  const deadline = Date.now() + 5_000;
  while (count() < expected && Date.now() < deadline) await delay(20);
  return count();
}

t.test('the shipped cluster example passes nginx -t and keeps its proxy directives in both server blocks', { skip }, async (t) => {
  const p = testPaths(fs.mkdtempSync(path.join(os.tmpdir(), 'prx-nginx-t-')));
  t.teardown(() => fs.rmSync(p.dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(p.dir, 'tmp'));
  await makeTestCertificate(p);
  const conf = path.join(p.dir, 'nginx.conf');
  fs.writeFileSync(conf, checkableClusterConfig(p));
  const check = await promisify(execFile)(nginxBin!, ['-t', '-p', p.dir, '-c', conf, '-e', path.join(p.dir, 'error.log')]);
  t.match(check.stderr, /test is successful/);
  const running = deriveClusterConfig(p, ['127.0.0.1:9', '127.0.0.1:10']);
  t.match(running, /server 127\.0\.0\.1:9 max_fails=2 fail_timeout=10s;\n\s*server 127\.0\.0\.1:10 max_fails=2 fail_timeout=10s;/);
  for (const directive of [
    'proxy_buffering off;',
    'proxy_request_buffering off;',
    'proxy_http_version 1.1;',
    'proxy_next_upstream error timeout;',
    'proxy_read_timeout 3600s;',
    'proxy_set_header Connection $connection_upgrade;',
  ]) {
    t.equal(running.split(directive).length - 1, 2, `both server blocks have ${directive}`);
  }
  const shipped = fs.readFileSync(CLUSTER_CONF, 'utf8');
  t.notMatch(shipped.replace(/#[^\n]*/g, ''), /non_idempotent|http_50[234]/, 'never a POST re-sent, never a 5xx answer retried');
  t.match(shipped, /server_name example\.com api\.example\.com;/);
  t.match(shipped, /server_name \*\.example\.com;/);
  t.match(shipped, /health_check uri=\/readyz/, 'says how nginx Plus would poll /readyz');
});

/** A second instance on its own data folder, no node, behind the same nginx. */
async function secondInstance(t: Test, dir: string): Promise<{ run: LineChild; port: number }> {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'server.yaml');
  const lines = [
    'domain: example.com',
    'dataDir: ./data',
    'control: { listen: "127.0.0.1:0" }',
    'admin: { listen: false }',
    'http: { listen: "127.0.0.1:0", trustProxy: true }',
    'api: { open: true }',
  ];
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
  const run = startBin(t, 'proxima-server', ['-c', file], dir);
  const { http } = (await logLine(run, 'listening')) as { http: { port: number } };
  return { run, port: http.port };
}

t.test(
  'round robin over two instances; kill -9 of one: only the POST in flight on it fails, and it is not re-sent',
  { skip },
  async (t) => {
    const fake = await startFakeOllama();
    t.teardown(() => fake.destroy());
    const a = await startProcessNetwork(t, { n1: fake }, ['domain: example.com', 'http: { listen: "127.0.0.1:0", trustProxy: true }']);
    const b = await secondInstance(t, path.join(a.dir, 'b'));
    const nginx = await startNginx({ upstream: '', config: (p) => deriveClusterConfig(p, [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`]) });
    t.teardown(() => nginx.destroy());
    const via = { socketPath: nginx.httpSocket };

    const before = { a: accessIds(a.server).length, b: accessIds(b.run).length };
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await rawRequest('http://api.example.com/v1/models', via)).status);
    t.same(statuses, Array(10).fill(200));
    // Access lines are written as answers end; both instances wrote theirs before nginx relayed them.
    const served = {
      a: (await settle(() => accessIds(a.server).length, before.a + 5)) - before.a,
      b: (await settle(() => accessIds(b.run).length, before.b + 5)) - before.b,
    };
    t.same(served, { a: 5, b: 5 }, 'round robin: five each');

    // A POST to the API for the model only instance a's node has (b refuses it): its answer never comes.
    fake.setFaults({ stallForever: true });
    let held: ReturnType<typeof sendRequest> | undefined;
    for (let i = 0; i < 4 && held === undefined; i++) {
      const arrived = new Promise((resolve) => fake.once('request', resolve));
      const sent = sendRequest('http://api.example.com/api/generate', {
        ...via,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'llama3.2', prompt: 'hi' }),
      });
      const first = await Promise.race([arrived.then(() => 'node' as const), sent.response.then((r) => r)]);
      if (first === 'node') held = sent;
      else t.ok(first.status >= 400, `instance b has no node for the model: ${first.status}`);
    }
    t.ok(held, 'a POST reached the node through instance a');
    const bSeen = accessIds(b.run).length;
    a.server.child.kill('SIGKILL');
    const cut = await held!.response;
    t.equal(cut.status, 502, "the user of the request in flight on the dead instance gets nginx's 502");
    const after: number[] = [];
    for (let i = 0; i < 10; i++) after.push((await rawRequest('http://api.example.com/v1/models', via)).status);
    t.same(after, Array(10).fill(200), 'every later request is answered, by instance b');
    t.equal((await settle(() => accessIds(b.run).length, bSeen + 11)) - bSeen, 10, 'b saw those ten, and not the POST again');
  },
);
