import t, { type Test } from 'tap';
import type { LedgerRecord } from '../../../src/server/ledger/ledger-record.js';
import { request } from '../../fixtures/ledger-records.js';
import { httpListener, startServer, tempDir, testServerConfig } from '../../fixtures/stacks/control-plane.js';

const ADMIN = 'admin-token-for-usage-tests';
const EPOCH = 'epoch=20089';

async function get(base: string, path: string, token?: string): Promise<{ status: number; body: any }> {
  const res = await fetch(base + path, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
  return { status: res.status, body: await res.json() };
}

/** A real super node with a public listener and a day of traffic in its ledger: two nodes, two keys, two models. */
async function serverWithTraffic(t: Test): Promise<string> {
  const dataDir = tempDir(t);
  const server = await startServer(t, {
    dataDir,
    config: testServerConfig(dataDir, { admin: { token: ADMIN } }),
    publicListener: httpListener,
  });
  const records: LedgerRecord[] = [
    request({ node: 'alpha', keyId: 'key-a' }),
    request({ node: 'alpha', keyId: 'key-b', model: 'qwen2.5', outcome: 'node_error' }),
    request({ node: 'beta', keyId: 'key-a', outcome: 'client_abort' }),
  ];
  await Promise.all(records.map((r) => server.ledger.append(r)));
  return `http://127.0.0.1:${server.httpAddress()!.port}`;
}

t.test('GET /admin/usage: by node, key and model, for the admin bearer token only', async (t) => {
  const base = await serverWithTraffic(t);
  const byNode = await get(base, `/admin/usage?by=node&${EPOCH}`, ADMIN);
  t.equal(byNode.status, 200);
  t.match(byNode.body, [
    { group: 'alpha', requests: 2, ok: 1, failed: 1, aborted: 0, models: ['llama3.2', 'qwen2.5'], credit: 0.3392 },
    { group: 'beta', requests: 1, ok: 0, failed: 0, aborted: 1, completionTokens: 100, models: ['llama3.2'] },
  ]);
  t.same((await get(base, `/admin/usage?${EPOCH}`, ADMIN)).body, byNode.body, 'by node by default');
  t.same(
    (await get(base, `/admin/usage?by=key&${EPOCH}`, ADMIN)).body.map((r: any) => [r.group, r.requests, r.nodes]),
    [
      ['key-a', 2, ['alpha', 'beta']],
      ['key-b', 1, ['alpha']],
    ],
  );
  t.same(
    (await get(base, `/admin/usage?by=model&${EPOCH}`, ADMIN)).body.map((r: any) => [r.group, r.requests, r.nodes]),
    [
      ['llama3.2', 2, ['alpha', 'beta']],
      ['qwen2.5', 1, ['alpha']],
    ],
  );
  t.same((await get(base, '/admin/usage?by=model', ADMIN)).body, [], 'the current epoch: nothing yet');
  for (const token of [undefined, 'wrong-token-wrong-token']) {
    t.match(await get(base, `/admin/usage?by=key&${EPOCH}`, token), { status: 401, body: { error: { code: 'PRX_ERR_UNAUTHORIZED' } } });
  }
});

t.test('a bad by, epoch or parameter is 400 with the error shape', async (t) => {
  const base = await serverWithTraffic(t);
  for (const [query, message] of [
    ['?by=user', 'by must be one of node, key, model, not "user"'],
    ['?by=node&epoch=last', 'epoch must be a whole number'],
    ['?from=0', 'unknown or repeated query parameter "from"'],
    ['?by=key&by=model', 'unknown or repeated query parameter "by"'],
  ]) {
    t.match(
      await get(base, `/admin/usage${query}`, ADMIN),
      { status: 400, body: { error: { code: 'PRX_ERR_HTTP_BAD_REQUEST', message } } },
      query,
    );
  }
});
