/**
 * The dashboard over HTTP, on a real super node: the login form (admin token, node token, wrong
 * token, another site's form, throttled guesses), the session cookie and its flags, the security
 * headers, the assets from memory, and what each viewer's JSON holds (an operator sees their node only;
 * a revoked node's session stops working).
 */
import fs from 'node:fs';
import t, { type Test } from 'tap';
import { CONTENT_SECURITY_POLICY } from '../../../../src/server/admin/dashboard/dashboard-pages.js';
import { AuthThrottle } from '../../../../src/server/api-host/auth-throttle.js';
import { at, request, T0 } from '../../../fixtures/ledger-records.js';
import { repoPath } from '../../../fixtures/paths.js';
import { register, startServer, tempDir, testServerConfig } from '../../../fixtures/stacks/control-plane.js';
import { cookieOf, startDashboardHost } from '../../../fixtures/stacks/dashboard-host.js';

const ADMIN = 'admin-token-for-dashboard-tests';
/** An hour into the fixtures' epoch, so their ledger records fall in the current epoch. */
const now = (): number => T0 + 3_600_000;

async function setup(t: Test, options: Parameters<typeof startDashboardHost>[2] = {}, http: object = {}) {
  const dataDir = tempDir(t);
  const server = await startServer(t, { dataDir, config: testServerConfig(dataDir, { admin: { token: ADMIN }, http }), now });
  const tokens = { alpha: await register(server, 'alpha'), beta: await register(server, 'beta') };
  await Promise.all([request({ node: 'alpha' }), request({ node: 'beta', time: at(120_000) })].map((r) => server.ledger.append(r)));
  const host = await startDashboardHost(t, server, { now, ...options });
  return { server, host, tokens };
}

t.test('without a session: the login form, with the security headers, and no state', async (t) => {
  const { host } = await setup(t);
  for (const path of ['/dashboard', '/dashboard/']) {
    const page = await host.get(path);
    t.equal(page.status, 200, path);
    t.equal(page.headers['content-security-policy'], CONTENT_SECURITY_POLICY);
    t.equal(page.headers['x-content-type-options'], 'nosniff');
    t.equal(page.headers['referrer-policy'], 'no-referrer');
    t.equal(page.headers['cache-control'], 'no-store');
    t.equal(page.headers['set-cookie'], undefined);
    t.match(page.text, /<form method="post" action="\/dashboard\/login">/);
    t.notMatch(page.text, /<script(?![^>]*\bsrc=)/, 'no inline script');
  }
  const state = await host.get('/dashboard/state');
  t.equal(state.status, 401);
  t.equal(JSON.parse(state.text).error.code, 'PRX_ERR_UNAUTHORIZED');
  t.equal((await host.get('/dashboard/nothing')).status, 404);
  t.equal((await host.post('/dashboard/state')).status, 405);
  t.equal((await host.get('/dashboard/login')).status, 405);
});

t.test('assets: uPlot as its npm package ships it, from memory, cached for a year, revalidated by ETag', async (t) => {
  const { host } = await setup(t);
  const cookie = cookieOf(await host.login({ token: ADMIN }));
  const page = (await host.get('/dashboard/', cookie)).text;
  const scripts = [...page.matchAll(/<script src="([^"]+)"><\/script>/g)].map((m) => m[1]!.replaceAll('&#63;', '?'));
  t.same(
    scripts.map((s) => s.split('?', 1)[0]),
    ['/dashboard/assets/uPlot.iife.min.js', '/dashboard/assets/dashboard.js'],
  );
  const uplot = await host.get(scripts[0]!);
  t.equal(uplot.status, 200);
  t.ok(uplot.body.equals(fs.readFileSync(repoPath('node_modules/uplot/dist/uPlot.iife.min.js'))), 'the bytes of the npm package');
  t.equal(uplot.headers['content-type'], 'text/javascript; charset=utf-8');
  t.equal(uplot.headers['cache-control'], 'public, max-age=31536000, immutable');
  t.equal(uplot.headers['content-security-policy'], CONTENT_SECURITY_POLICY);
  const again = await host.get(scripts[0]!, undefined, { 'if-none-match': String(uplot.headers.etag) });
  t.equal(again.status, 304);
  t.equal(again.body.length, 0);
  t.equal((await host.get('/dashboard/assets/../../package.json')).status, 404);
  t.equal((await host.get('/dashboard/assets/nothing.js')).status, 404);
});

t.test('the admin logs in with the admin token and sees every node; logout ends the session', async (t) => {
  const { host } = await setup(t);
  const login = await host.login({ node: '', token: ADMIN });
  t.equal(login.status, 303);
  t.equal(login.headers.location, '/dashboard/');
  const set = login.headers['set-cookie']![0]!;
  t.match(set, /^proxima_dashboard=[A-Za-z0-9_-]{43}; Path=\/dashboard; HttpOnly; SameSite=Strict; Max-Age=43200$/);
  t.notMatch(set, ADMIN, 'the token is not in the cookie');
  const cookie = cookieOf(login);
  const page = await host.get('/dashboard/', cookie);
  t.match(page.text, /<table id="nodes">/);
  host.dashboard.feed.usage(request({ node: 'alpha', ttftMs: 150, completionTokensReported: 40 }));
  host.dashboard.feed.usage(request({ node: 'beta', outcome: 'node_error', finishReason: null, ttftMs: null }));
  host.dashboard.feed.sample();
  const state = JSON.parse((await host.get('/dashboard/state', cookie)).text);
  t.same(state.viewer, { role: 'admin' });
  t.same(
    state.nodes.map((n: any) => [n.name, n.online]),
    [
      ['alpha', false],
      ['beta', false],
    ],
  );
  t.equal(state.traffic.t.length, 1, 'one sample');
  t.ok(state.traffic.requestsPerS[0] > 0);
  t.equal(state.traffic.ttftMs[0], 150);
  t.same(
    state.errors.map((e: any) => [e.node, e.kind]),
    [['beta', 'request']],
  );
  t.equal(state.rewards.length, 3, 'the current epoch and two past ones');
  t.same(
    state.rewards[0].nodes.map((r: any) => [r.node, r.requests]),
    [
      ['alpha', 1],
      ['beta', 1],
    ],
  );
  t.equal(state.rewards[0].state, 'open');
  const logout = await host.post('/dashboard/logout', cookie);
  t.equal(logout.status, 303);
  t.match(logout.headers['set-cookie']![0]!, /^proxima_dashboard=; Path=\/dashboard; HttpOnly; SameSite=Strict; Max-Age=0/);
  t.equal((await host.get('/dashboard/state', cookie)).status, 401, 'the old cookie no longer works');
  t.match((await host.get('/dashboard/', cookie)).text, /action="\/dashboard\/login"/);
});

t.test('an operator sees their node only, filtered on the server; a revoked node is logged out', async (t) => {
  const { server, host, tokens } = await setup(t);
  host.dashboard.feed.usage(request({ node: 'alpha' }));
  host.dashboard.feed.usage(request({ node: 'beta', outcome: 'timeout' }));
  host.dashboard.feed.sample();
  const login = await host.login({ node: 'alpha', token: tokens.alpha });
  t.equal(login.status, 303);
  const cookie = cookieOf(login);
  const text = (await host.get('/dashboard/state', cookie)).text;
  t.notMatch(text, 'beta', 'nothing of the other node is in the answer');
  const state = JSON.parse(text);
  t.same(state.viewer, { role: 'node', node: 'alpha' });
  t.same(
    state.nodes.map((n: any) => n.name),
    ['alpha'],
  );
  t.same(
    state.rewards[0].nodes.map((r: any) => r.node),
    ['alpha'],
  );
  t.same(state.errors, []);
  t.equal(state.traffic.requestsPerS.length, 1);
  const byToken = cookieOf(await host.login({ token: tokens.beta }));
  t.same(
    JSON.parse((await host.get('/dashboard/state', byToken)).text).viewer,
    { role: 'node', node: 'beta' },
    'a node token alone names its node',
  );
  const wrongName = await host.login({ node: 'beta', token: tokens.alpha });
  t.equal(wrongName.status, 401, "alpha's token is not beta's");
  t.equal(wrongName.headers['set-cookie'], undefined);
  t.equal((await host.login({ node: 'alpha', token: ADMIN })).status, 401, 'the admin token is not a node token');
  await server.registry.revoke('alpha');
  t.equal((await host.get('/dashboard/state', cookie)).status, 401, 'revoked: the session stops working');
  t.equal((await host.login({ node: 'alpha', token: tokens.alpha })).status, 401, 'and the token no longer logs in');
  const rotated = await server.registry.rotate('beta');
  t.equal((await host.get('/dashboard/state', byToken)).status, 401, 'rotated: the old session stops working');
  t.equal((await host.login({ token: rotated.token })).status, 303, 'the new token logs in');
});

t.test('a wrong token: 401, no cookie; guesses from one address are slowed, then refused', async (t) => {
  const { host } = await setup(t, { authThrottle: new AuthThrottle({ freeFailures: 2, maxFailures: 3, delayStepMs: 1, maxDelayMs: 1 }) });
  for (let i = 0; i < 3; i++) {
    const wrong = await host.login({ token: `wrong-${i}` });
    t.equal(wrong.status, 401);
    t.equal(wrong.headers['set-cookie'], undefined);
    t.match(wrong.text, /Wrong token/);
    t.notMatch(wrong.text, `wrong-${i}`, 'the token is not echoed');
  }
  const refused = await host.login({ token: ADMIN });
  t.equal(refused.status, 429, 'refused outright, even with the right token');
  t.ok(Number(refused.headers['retry-after']) >= 1);
  t.equal(refused.headers['set-cookie'], undefined);
});

t.test("another site's form is refused before the token is looked at", async (t) => {
  const { host } = await setup(t);
  const cases: [string, Record<string, string>][] = [
    ['Sec-Fetch-Site cross-site', { 'sec-fetch-site': 'cross-site' }],
    ['Sec-Fetch-Site same-site', { 'sec-fetch-site': 'same-site' }],
    ['Origin of another host', { origin: 'http://evil.example' }],
    ['Origin null', { origin: 'null' }],
    ['Sec-Fetch-Site cross-site, whatever Origin says', { 'sec-fetch-site': 'cross-site', origin: host.base }],
  ];
  for (const [what, headers] of cases) {
    const res = await host.login({ token: ADMIN }, headers);
    t.equal(res.status, 403, what);
    t.equal(res.headers['set-cookie'], undefined, what);
  }
  const port = new URL(host.base).port;
  const same = await host.login({ token: ADMIN }, { 'sec-fetch-site': 'same-origin', origin: 'null' });
  t.equal(same.status, 303, 'the page of this origin may (its forms say Origin: null under no-referrer)');
  const old = await host.login({ token: ADMIN }, { origin: `http://127.0.0.1:${port}` });
  t.equal(old.status, 303, 'a browser without Sec-Fetch-Site, from this origin');
  t.equal((await host.post('/dashboard/logout', cookieOf(same), { 'sec-fetch-site': 'cross-site' })).status, 403, 'logout too');
  const json = await host.get('/dashboard/state', cookieOf(same));
  t.equal(json.status, 200, 'the cross-site logout did nothing');
  const big = await host.login({ token: 'x'.repeat(5000) });
  t.equal(big.status, 413, 'the form is bounded');
});

t.test('behind a trusted proxy that says https, the cookie is Secure', async (t) => {
  const { host } = await setup(t, {}, { trustProxy: true });
  const login = await host.login({ token: ADMIN }, { 'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.9' });
  t.match(login.headers['set-cookie']![0]!, /; Secure$/);
  const plain = await host.login({ token: ADMIN });
  t.notMatch(plain.headers['set-cookie']![0]!, /Secure/);
});
