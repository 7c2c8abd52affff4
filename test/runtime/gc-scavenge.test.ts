import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { currentRuntime, plannedTricks } from '../../src/runtime/tuning.js';
import { startWebServer } from '../fixtures/fakes/web/web-server.js';
import { logLine, startBin } from '../fixtures/processes/bin-process.js';
import { runNode } from '../fixtures/processes/run-bin.js';
import { openRequest, rawRequest } from '../fixtures/wire/raw-http.js';

const MIB = 1024 * 1024;
/** What crosses each way; SCAVENGE_EVERY_READ_BYTES is 4 MiB. */
const EACH_WAY = 48 * MIB;

/** Young-generation collections that gc() asked for, in a `--trace-gc` log ("Scavenge ... testing"). */
function askedScavenges(traceGc: string): number {
  return traceGc.split('\n').filter((line) => /: Scavenge\b.* testing;/.test(line)).length;
}

/** What one run of both programs over the tunnel shows: the tuning each logged, and the scavenges gc() asked for. */
interface TunnelRun {
  tuning: { server: Record<string, unknown>; client: Record<string, unknown> };
  asked: { server: number; client: number };
}

/** The real programs with `env`, 48 MiB down and 48 MiB up through the tunnel (hashes checked), then SIGTERM. */
async function tunnelBothWays(t: Test, env: NodeJS.ProcessEnv, runtimeSection = ''): Promise<TunnelRun> {
  const web = await startWebServer();
  t.teardown(() => web.destroy());
  const dir = t.testdir();
  const serverFile = path.join(dir, 'server.yaml');
  fs.writeFileSync(
    serverFile,
    `domain: proxima.test\ndataDir: ./data\ncontrol: { listen: "127.0.0.1:0" }\nadmin: { listen: "127.0.0.1:0" }\nhttp: { listen: "127.0.0.1:0" }\n${runtimeSection}`,
  );
  const { token } = JSON.parse((await runNode('bin/proxima-server.js', ['nodes', 'add', 'alpha', '--json', '-c', serverFile])).stdout) as {
    token: string;
  };
  // --trace-gc prints every collection on stdout; the JSON log is on stderr.
  const server = startBin(t, 'proxima-server', ['-c', serverFile], dir, env, ['--trace-gc']);
  const { control, http } = (await logLine(server, 'listening')) as { control: { port: number }; http: { port: number } };
  const clientFile = path.join(dir, 'client.yaml');
  fs.writeFileSync(
    clientFile,
    `server: 127.0.0.1:${control.port}\nname: alpha\ntoken: ${token}\nstatus: false\nservices:\n  - { name: web, local: "127.0.0.1:${web.port}" }\n${runtimeSection}`,
  );
  const client = startBin(t, 'proxima-client', ['-c', clientFile], dir, env, ['--trace-gc']);
  await logLine(server, 'node online', (line) => line.node === 'alpha');
  const tuning = { server: await logLine(server, 'runtime tuning'), client: await logLine(client, 'runtime tuning') };

  const headers = { Host: 'alpha.proxima.test' };
  const down = await openRequest(`http://127.0.0.1:${http.port}/download?bytes=${EACH_WAY}&seed=gc`, { headers, agent: false });
  const hash = crypto.createHash('sha256');
  let bytes = 0;
  for await (const chunk of down.res as AsyncIterable<Buffer>) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  t.same([down.status, bytes, hash.digest('hex')], [200, EACH_WAY, down.headers['x-content-sha256']], 'the download arrived whole');
  const body = crypto.randomBytes(EACH_WAY);
  const up = await rawRequest(`http://127.0.0.1:${http.port}/upload`, { method: 'POST', headers, body, agent: false });
  t.same(
    JSON.parse(up.text),
    { bytes: EACH_WAY, sha256: crypto.createHash('sha256').update(body).digest('hex') },
    'the upload arrived whole',
  );

  for (const run of [client, server]) {
    run.child.kill('SIGTERM');
    t.same(await run.exited, { code: 0, signal: null });
  }
  return { tuning, asked: { server: askedScavenges(server.otherOutput()), client: askedScavenges(client.otherOutput()) } };
}

t.test('the real programs collect their young generation every 4 MiB they read, both ways', async (t) => {
  const { asked, tuning } = await tunnelBothWays(t, { ...process.env, PROXIMA_RUNTIME_TUNING: '' });
  const planned = plannedTricks('auto', currentRuntime());
  t.match(
    tuning,
    {
      server: { mode: 'auto', applied: plannedTricks('auto', currentRuntime(), 'super-node') },
      client: { mode: 'auto', applied: planned },
    },
    'runtime.tuning defaults to auto',
  );
  if (!planned.includes('scavenge-on-reads'))
    return void t.comment(`not measured on Node ${process.versions.node} (V8 ${process.versions.v8}): auto applies nothing`);
  // Each program read 96 MiB: the download's and the upload's bytes, one from a socket and one from the
  // tunnel stream: one collection at start and one per 4 MiB read (23 or 24: the bytes past a
  // threshold are not carried over). A path that did not count its reads would leave 13 or fewer.
  for (const [name, n] of [
    ['proxima-server', asked.server],
    ['proxima-client', asked.client],
  ] as const) {
    t.ok(n >= 22 && n <= 26, `${name}: ${n} young-generation collections asked for`);
  }
});

t.test('runtime.tuning off: the same transfer with no collection asked for, and each program says so', async (t) => {
  const { asked, tuning } = await tunnelBothWays(t, { ...process.env, PROXIMA_RUNTIME_TUNING: '' }, 'runtime: { tuning: off }\n');
  t.same([asked.server, asked.client], [0, 0], 'gc() was never called');
  t.match(tuning, { server: { mode: 'off', applied: [] }, client: { mode: 'off', applied: [] } });
});

t.test('PROXIMA_RUNTIME_TUNING=off wins over the config file', async (t) => {
  const { asked, tuning } = await tunnelBothWays(t, { ...process.env, PROXIMA_RUNTIME_TUNING: 'off' }, 'runtime: { tuning: auto }\n');
  t.same([asked.server, asked.client], [0, 0], 'gc() was never called');
  t.match(tuning, { server: { mode: 'off', applied: [] }, client: { mode: 'off', applied: [] } });
});
