/**
 * Three proxima-server instances on one PostgreSQL, six proxima-client nodes (two starting at each
 * instance), nginx round robin in front (config/nginx/cluster.conf), all real processes
 * (test/fixtures/stacks/cluster.ts). Every node's hostname and every model answer through nginx
 * and through each instance directly, whichever instance holds the node. Then kill -9 of one
 * instance under streaming load: every node is back online within 15 s (measured and printed), no
 * acknowledged registration or ledger record is lost (the ids of the answers users got in full are
 * all rows of proxima_ledger), and the only errors users see are for requests in flight at the kill.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import t from 'tap';
import { type FakeOllama, startFakeOllama } from '../../fixtures/fakes/ollama/fake-ollama.js';
import { POSTGRES_SKIP } from '../../fixtures/postgres.js';
import { findNginx } from '../../fixtures/processes/nginx.js';
import { type Cluster, type ClusterInstance, startCluster } from '../../fixtures/stacks/cluster.js';
import { openRequest, type RawRequestOptions, rawRequest, readAll } from '../../fixtures/wire/raw-http.js';

const nginxBin = await findNginx();
const skip = POSTGRES_SKIP || (nginxBin === undefined ? 'nginx not found and not installable here' : false);
const NODES = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6'];
const SHARED = 'llama3.2:latest';

/** One way in: nginx's socket, or one instance's own port. */
interface Door {
  name: string;
  url(host: string, urlPath: string): string;
  options(host: string): RawRequestOptions;
}

const doors = (cluster: Cluster): Door[] => [
  { name: 'nginx', url: (host, p) => `http://${host}${p}`, options: () => ({ socketPath: cluster.nginx!.httpSocket }) },
  ...cluster.instances.map(
    (i): Door => ({ name: `instance ${i.index}`, url: (_host, p) => `${i.base}${p}`, options: (host) => ({ headers: { host } }) }),
  ),
];

/** A streamed chat through `door`: status, x-request-id, and whether the stream ended with [DONE]. */
async function streamChat(
  door: Door,
  model: string,
): Promise<{ status: number; id: string | undefined; done: boolean; error?: string; body?: string }> {
  const body = JSON.stringify({ model, stream: true, messages: [{ role: 'user', content: 'count' }] });
  try {
    const options = door.options('api.example.com');
    const open = await openRequest(door.url('api.example.com', '/v1/chat/completions'), {
      ...options,
      method: 'POST',
      headers: { ...options.headers, 'content-type': 'application/json' },
      body,
    });
    const text = (await readAll(open.res)).toString('utf8');
    const done = text.includes('data: [DONE]');
    return {
      status: open.status,
      id: open.headers['x-request-id'] as string | undefined,
      done,
      ...(done ? {} : { body: text.slice(-300) }),
    };
  } catch (err) {
    return { status: 0, id: undefined, done: false, error: (err as Error).message };
  }
}

t.test(
  'three instances, six nodes, nginx: everything answers everywhere; kill -9 of one under load',
  { skip, timeout: 240_000 },
  async (t) => {
    const fakes: Record<string, FakeOllama> = {};
    for (const [i, name] of NODES.entries()) {
      fakes[name] = await startFakeOllama({ models: [{ name: `m${i + 1}` }, { name: SHARED }], tokenIntervalMs: 50 });
      t.teardown(() => fakes[name]!.destroy());
    }
    const cluster = await startCluster(t, {
      instances: 3,
      nodes: fakes,
      clientLines: ['heartbeat: { intervalMs: 500, timeoutMs: 1500 }'],
    });

    t.test('every node and every model through nginx and through each instance', async (t) => {
      for (const door of doors(cluster)) {
        for (const [i, name] of NODES.entries()) {
          const tags = await rawRequest(door.url(`${name}.example.com`, '/api/tags'), door.options(`${name}.example.com`));
          t.equal(tags.status, 200, `${door.name}: ${name}'s hostname (${tags.headers['proxima-error'] ?? ''} ${tags.text.slice(0, 200)})`);
          t.match(tags.text, `"m${i + 1}:latest"`, `${door.name}: ${name}'s own Ollama answered`);
          const chat = await streamChat(door, `m${i + 1}`);
          t.same([chat.status, chat.done], [200, true], `${door.name}: model m${i + 1} (only ${name} has it)`);
        }
        const models = JSON.parse((await rawRequest(door.url('api.example.com', '/v1/models'), door.options('api.example.com'))).text) as {
          data: { id: string }[];
        };
        t.same(
          models.data.map((m) => m.id).sort(),
          [...NODES.map((_, i) => `m${i + 1}:latest`), SHARED].sort(),
          `${door.name}: /v1/models`,
        );
      }
    });

    t.test('kill -9 of one instance under streaming load', async (t) => {
      const victim = cluster.instances[1]!;
      // One more registration, acknowledged just before the kill: it must survive it.
      const late = await startFakeOllama({ models: [{ name: SHARED }], tokenIntervalMs: 50 });
      t.teardown(() => late.destroy());
      await cluster.addNode('n7', late);
      const held = NODES.concat('n7').filter((name) =>
        victim.run.lines.some((l) => l.includes('"node online"') && l.includes(`"node":"${name}"`)),
      );
      t.ok(held.length >= 2, `instance 1 holds ${held.join(', ')}`);

      const results: ({ startedAt: number; endedAt: number } & Awaited<ReturnType<typeof streamChat>>)[] = [];
      let loading = true;
      const worker = async (): Promise<void> => {
        while (loading) {
          const startedAt = performance.now();
          const r = await streamChat(doors(cluster)[0]!, SHARED);
          results.push({ ...r, startedAt, endedAt: performance.now() });
        }
      };
      const workers = Array.from({ length: 8 }, worker);
      while (results.length < 16) await delay(50);

      const since = cluster.instances.map((i) => i.run.lines.length);
      const killedAt = performance.now();
      // SIGKILL is not instant: until the kernel has torn the process down (its memory first, its
      // sockets after) its listening socket still completes handshakes, so a request nginx sends
      // in that window reaches the dying instance and is lost with it. The window ends when the
      // process is reaped.
      let goneAt = Number.POSITIVE_INFINITY;
      victim.run.child.once('exit', () => (goneAt = performance.now()));
      victim.run.child.kill('SIGKILL');
      const back: Record<string, number> = {};
      await Promise.all(
        held.map(async (name) => {
          const at: ClusterInstance = await cluster.online(name, since);
          back[name] = performance.now() - killedAt;
          t.not(at.index, victim.index, `${name} back online at instance ${at.index}`);
        }),
      );
      const slowest = Math.max(...Object.values(back));
      t.ok(slowest < 15_000, `every node back online within 15 s: ${JSON.stringify(back)} ms`);
      t.comment(
        `back online after kill -9: ${Object.entries(back)
          .map(([n, ms]) => `${n} ${ms.toFixed(0)} ms`)
          .join(', ')}`,
      );
      const resumedAt = performance.now();
      while (results.filter((r) => r.startedAt > resumedAt).length < 16) await delay(50);
      loading = false;
      await Promise.all(workers);

      const failed = results.filter((r) => r.status !== 200 || !r.done);
      const inFlight = failed.filter((r) => r.startedAt < goneAt && r.endedAt > killedAt);
      t.same(
        failed.filter((r) => !inFlight.includes(r)),
        [],
        `no error for a request that was not in flight on the instance while it died (${killedAt.toFixed(1)} to ${goneAt.toFixed(1)} ms)`,
      );
      t.comment(
        `${results.length} streamed requests, ${failed.length} failed, ${inFlight.length} of them in flight at the kill; the process was gone ${(goneAt - killedAt).toFixed(1)} ms after SIGKILL`,
      );

      const list = await cluster.cli(['nodes', 'list', '--json']);
      for (const name of [...NODES, 'n7']) t.match(list.stdout, `"${name}"`, `${name}'s registration is still there`);

      const acknowledged = results.filter((r) => r.status === 200 && r.done).map((r) => r.id!);
      const client = new pg.Client({ connectionString: cluster.url });
      await client.connect();
      t.teardown(() => client.end());
      let missing = acknowledged;
      for (const deadline = Date.now() + 10_000; missing.length > 0 && Date.now() < deadline; await delay(100)) {
        const rows = await client.query<{ id: string }>('SELECT id FROM proxima_ledger WHERE id = ANY($1::text[])', [missing]);
        const found = new Set(rows.rows.map((r) => r.id));
        missing = missing.filter((id) => !found.has(id));
      }
      t.same(missing, [], `every one of the ${acknowledged.length} answers users got in full is in proxima_ledger`);
    });
  },
);
