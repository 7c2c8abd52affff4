import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import type { LedgerRecord } from '../../../src/server/ledger/ledger-record.js';
import { LedgerWriter } from '../../../src/server/ledger/ledger-writer.js';
import { openRegistry } from '../../../src/server/registry/open-registry.js';
import { createRewardsApi } from '../../../src/server/rewards/rewards-api.js';
import { DEFAULT_REWARD_RULES } from '../../../src/server/rewards/rules.js';
import type { ProximaServer } from '../../../src/server/server.js';
import { at, DAY_MS, probe, request, T0 } from '../../fixtures/ledger-records.js';
import { httpListener, register, startServer, tempDir, testServerConfig } from '../../fixtures/stacks/control-plane.js';

const ADMIN = 'admin-token-for-rewards-tests';
const EPOCH = '?epoch=20089';

interface Answer {
  status: number;
  body: any;
  headers: Headers;
}

async function get(base: string, path: string, token?: string, method = 'GET'): Promise<Answer> {
  const res = await fetch(base + path, { method, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text), headers: res.headers };
}

/** A real super node with a public listener, two registered nodes and a day of their traffic in its ledger. */
async function serverWithTraffic(
  t: Test,
  admin: object = { token: ADMIN },
  now?: () => number,
): Promise<{ server: ProximaServer; base: string; tokens: Record<string, string> }> {
  const dataDir = tempDir(t);
  const server = await startServer(t, { dataDir, config: testServerConfig(dataDir, { admin }), publicListener: httpListener, now });
  const tokens = { alpha: await register(server, 'alpha'), beta: await register(server, 'beta'), quiet: await register(server, 'quiet') };
  const records: LedgerRecord[] = [
    request({ node: 'alpha' }),
    request({ node: 'alpha', time: at(120_000) }),
    request({ node: 'beta' }),
    probe({ node: 'alpha' }),
    probe({ node: 'alpha', ok: false }),
  ];
  await Promise.all(records.map((r) => server.ledger.append(r)));
  return { server, base: `http://127.0.0.1:${server.httpAddress()!.port}`, tokens };
}

t.test('GET /admin/rewards: every node, for the admin bearer token only', async (t) => {
  const { base } = await serverWithTraffic(t);
  const ok = await get(base, `/admin/rewards${EPOCH}`, ADMIN);
  t.equal(ok.status, 200);
  t.equal(ok.headers.get('cache-control'), 'no-store');
  t.match(ok.body, [
    // Two requests of 100 + 0.2 × 30 tokens on 3.2B, and a minute of uptime: 0.1 / 60 × 3.2.
    {
      node: 'alpha',
      requests: 2,
      promptTokens: 60,
      completionTokens: 200,
      availability: 0.5,
      requestCredit: 0.6784,
      uptimeCredit: 0.005333,
      pendingCredit: 0,
      validatedCredit: 0.683733,
      share: 0.668404,
    },
    { node: 'beta', requests: 1, completionTokens: 100, availability: null, validatedCredit: 0.3392, share: 0.331596 },
  ]);
  t.equal(ok.body.length, 2);
  t.same(
    (await get(base, `/admin/rewards?from=${new Date(T0).toISOString()}&to=${T0 + DAY_MS}`, ADMIN)).body,
    ok.body,
    'the same span given as from and to',
  );
  t.same((await get(base, '/admin/rewards', ADMIN)).body, [], 'the current epoch: nothing yet');

  for (const [token, code] of [
    [undefined, 'PRX_ERR_UNAUTHORIZED'],
    ['wrong-token-wrong-token', 'PRX_ERR_UNAUTHORIZED'],
  ] as const) {
    const refused = await get(base, `/admin/rewards${EPOCH}`, token);
    t.equal(refused.status, 401);
    t.equal(refused.body.error.code, code);
  }
});

t.test("GET /nodes/NAME/usage: the node's own line, with its own token", async (t) => {
  const { server, base, tokens } = await serverWithTraffic(t);
  const own = await get(base, `/nodes/alpha/usage${EPOCH}`, tokens.alpha);
  t.equal(own.status, 200);
  t.match(own.body, [{ node: 'alpha', requests: 2, validatedCredit: 0.683733, share: 0.668404 }], 'its share of every node');
  t.equal(own.body.length, 1);
  t.same((await get(base, `/nodes/alpha/usage${EPOCH}`, ADMIN)).body, own.body, 'the admin may look too');
  t.match(
    (await get(base, `/nodes/quiet/usage${EPOCH}`, tokens.quiet)).body,
    [{ node: 'quiet', requests: 0, validatedCredit: 0, share: 0 }],
    'no activity: zeros',
  );

  const other = await get(base, `/nodes/alpha/usage${EPOCH}`, tokens.beta);
  t.match(other, { status: 403, body: { error: { code: 'PRX_ERR_FORBIDDEN' } } }, "another node's valid token");
  for (const token of [undefined, 'not-a-token', tokens.alpha.slice(0, -1) + (tokens.alpha.endsWith('A') ? 'B' : 'A')]) {
    t.match(await get(base, `/nodes/alpha/usage${EPOCH}`, token), { status: 401, body: { error: { code: 'PRX_ERR_UNAUTHORIZED' } } });
  }
  await server.registry.rotate('alpha');
  t.match(await get(base, `/nodes/alpha/usage${EPOCH}`, tokens.alpha), { status: 401 }, 'a rotated token no longer works');
  await server.registry.revoke('beta');
  t.match(await get(base, `/nodes/beta/usage${EPOCH}`, tokens.beta), { status: 401 }, 'nor a revoked one');
});

t.test("the server's clock decides the current epoch and whether it has closed", async (t) => {
  const clock = { nowMs: T0 + 3_600_000 };
  const { base } = await serverWithTraffic(t, { token: ADMIN }, () => clock.nowMs);
  t.match(
    (await get(base, '/admin/rewards', ADMIN)).body,
    [{ node: 'alpha', pendingCredit: 0.683733, validatedCredit: 0 }, { node: 'beta' }],
    'epoch 20089 is current: pending',
  );
  clock.nowMs = T0 + DAY_MS + 3_600_000;
  t.match(
    (await get(base, `/admin/rewards${EPOCH}`, ADMIN)).body,
    [{ node: 'alpha', pendingCredit: 0, validatedCredit: 0.683733 }],
    'settled an hour after it ended',
  );
});

t.test('bad queries are 400, other methods 405', async (t) => {
  const { base } = await serverWithTraffic(t);
  for (const query of [
    '?epoch=x',
    '?epoch=1&from=0',
    '?to=5',
    '?from=yesterday',
    '?week=3',
    '?epoch=1&epoch=2',
    '?from=2024-01-01&to=2025-01-01',
  ]) {
    t.match(
      await get(base, `/admin/rewards${query}`, ADMIN),
      { status: 400, body: { error: { code: 'PRX_ERR_HTTP_BAD_REQUEST' } } },
      query,
    );
  }
  t.match(await get(base, '/nodes/%E0%A4%A/usage', ADMIN), { status: 400 });
  t.match(await get(base, '/admin/rewards?from=2024-10-01&to=2025-01-01', ADMIN), { status: 200 }, 'a quarter is fine');
  const post = await get(base, '/admin/rewards', ADMIN, 'POST');
  t.match(post, { status: 405, body: { error: { code: 'PRX_ERR_HTTP_METHOD_NOT_ALLOWED' } } });
  t.equal(post.headers.get('allow'), 'GET');
});

t.test('without an admin token the admin route is off, and nodes still see their usage', async (t) => {
  const { base, tokens } = await serverWithTraffic(t, {});
  t.match(await get(base, `/admin/rewards${EPOCH}`, ADMIN), { status: 403, body: { error: { code: 'PRX_ERR_FORBIDDEN' } } });
  t.match(await get(base, `/nodes/alpha/usage${EPOCH}`, tokens.alpha), { status: 200, body: [{ node: 'alpha', requests: 2 }] });
  t.match(await get(base, '/nodes', ADMIN), { status: 403 }, 'while /nodes itself stays refused');
});

t.test('reports are computed once per window within cacheMs, and anew after', async (t) => {
  const dataDir = t.testdir();
  const registry = await openRegistry({ dataDir, watch: false, pollIntervalMs: 0 });
  t.teardown(() => registry.close());
  const ledger = await LedgerWriter.open({ dataDir });
  t.teardown(() => ledger.close());
  const clock = { nowMs: T0 + 1000 };
  const api = createRewardsApi({
    dataDir,
    rules: DEFAULT_REWARD_RULES,
    registry,
    adminToken: ADMIN,
    cacheMs: 10_000,
    now: () => clock.nowMs,
  });
  const server = http.createServer((req, res) => void api(req, res, '127.0.0.1').then((handled) => handled || res.writeHead(404).end()));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  await ledger.append(request({ time: at(500) }));
  t.match((await get(base, '/admin/rewards', ADMIN)).body, [{ requests: 1 }]);
  await ledger.append(request({ time: at(600) }));
  t.match((await get(base, '/admin/rewards', ADMIN)).body, [{ requests: 1 }], 'within cacheMs: the same report');
  clock.nowMs += 10_001;
  t.match((await get(base, '/admin/rewards', ADMIN)).body, [{ requests: 2 }], 'after it: read again');
  t.match(await get(base, '/elsewhere', ADMIN), { status: 404 }, 'other paths are not its');
});
