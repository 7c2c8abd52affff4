/**
 * Failed credentials throttled per client address. The unit tests run the counts on a fake clock;
 * the attacks run against a real super node and its real public listener over real sockets, from
 * 127.0.0.2 (a Linux loopback address of its own), while a user at 127.0.0.1 is let in.
 */
import http from 'node:http';
import t, { type Test } from 'tap';
import { AuthThrottle } from '../../../src/server/api-host/auth-throttle.js';
import { startPublicListener } from '../../../src/server/public/public-listener.js';
import type { ProximaServer } from '../../../src/server/server.js';
import { startServer, tempDir, testServerConfig } from '../../fixtures/stacks/control-plane.js';

t.test('the counts: free failures, then a growing hold-back, then refused until one decays', async (t) => {
  let nowMs = 0;
  const throttle = new AuthThrottle({ now: () => nowMs });
  const holds = Array.from({ length: 10 }, () => throttle.fail('a'));
  t.same(holds, [0, 0, 0, 0, 0, 250, 500, 750, 1000, 1250], 'five free, then 250 ms more each');
  t.same(throttle.gate('a'), { allowed: false, retryAfterMs: 6000 }, 'the tenth failure refuses the address for one decay');
  t.same(throttle.gate('b'), { allowed: true }, 'another address is not affected');
  nowMs += 5_999;
  t.same(throttle.gate('a'), { allowed: false, retryAfterMs: 1 });
  nowMs += 1;
  t.same(throttle.gate('a'), { allowed: true }, 'one failure decayed: one more try');
  t.equal(throttle.fail('a'), 1250, 'and the next failure is held back as long as the last');
  t.equal(throttle.fail('a'), 1500);
  t.equal(throttle.gate('a').allowed, false);
  nowMs += 10 * 6000;
  t.same(throttle.gate('a'), { allowed: true }, 'a minute later the count is gone');
  t.equal(throttle.fail('a'), 0, 'and the next failure is free again');
  t.equal(new AuthThrottle({ delayStepMs: 1000, maxDelayMs: 1500 }).fail('x'), 0);
  const capped = new AuthThrottle({ freeFailures: 0, delayStepMs: 1000, maxDelayMs: 1500 });
  t.same([capped.fail('x'), capped.fail('x')], [1000, 1500], 'the hold-back is capped');
});

t.test('memory is bounded: at most maxAddresses are remembered', async (t) => {
  const throttle = new AuthThrottle({ maxAddresses: 100, maxFailures: 1 });
  for (let i = 0; i < 10_000; i++) throttle.fail(`10.0.${i >> 8}.${i & 255}`);
  let refused = 0;
  for (let i = 0; i < 10_000; i++) if (!throttle.gate(`10.0.${i >> 8}.${i & 255}`).allowed) refused++;
  t.equal(refused, 100, 'only the last 100 addresses are remembered');
});

const GOOD_KEY = 'sk-good-key-0123456789';
const ADMIN = 'admin-token-0123456789abcdef';

/** A super node with an API key and an admin token behind its real public listener; the port. */
async function start(t: Test, http: object = {}): Promise<{ server: ProximaServer; port: number }> {
  const dataDir = tempDir(t);
  const config = testServerConfig(dataDir, { http, api: { keys: [{ id: 'k1', key: GOOD_KEY }] }, admin: { token: ADMIN } });
  // Shorter hold-backs than the defaults' (250 ms a step), and a clock that stands still so no
  // failure decays however slow the machine: the counts are what is tested.
  const throttle = () => new AuthThrottle({ delayStepMs: 20, now: () => 0 });
  const server = await startServer(t, {
    dataDir,
    config,
    publicListener: startPublicListener,
    authThrottles: { apiKeys: throttle(), admin: throttle() },
  });
  return { server, port: server.httpAddress()!.port };
}

interface Answer {
  status: number;
  retryAfter: string | undefined;
  code: string | undefined;
  ms: number;
}

/** One request from `from` with `Authorization: Bearer <token>`. */
function ask(agent: http.Agent, port: number, path: string, token: string, headers: Record<string, string> = {}): Promise<Answer> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: '127.0.0.1', port, path, agent, headers: { host: 'localhost', authorization: `Bearer ${token}`, ...headers } },
      (res) => {
        res.resume();
        res.on('end', () =>
          resolve({
            status: res.statusCode!,
            retryAfter: res.headers['retry-after'] as string | undefined,
            code: res.headers['proxima-error'] as string | undefined,
            ms: performance.now() - started,
          }),
        );
      },
    );
    req.on('error', reject);
  });
}

function agentFrom(t: Test, localAddress: string): http.Agent {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32, localAddress });
  t.teardown(() => agent.destroy());
  return agent;
}

function tally(answers: Answer[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const a of answers) out[a.status] = (out[a.status] ?? 0) + 1;
  return out;
}

t.test('3,000 wrong API keys from one address: 10 answered 401 (the last held back), the rest 429 with Retry-After', async (t) => {
  const { port } = await start(t);
  const attacker = agentFrom(t, '127.0.0.2');
  const first: Answer[] = [];
  for (let i = 0; i < 10; i++) first.push(await ask(attacker, port, '/v1/models', `sk-wrong-${i}`));
  t.same(
    first.map((a) => a.status),
    Array(10).fill(401),
  );
  for (let i = 5; i < 10; i++) t.ok(first[i]!.ms >= (i - 4) * 20, `failure ${i + 1} was held back ${Math.round(first[i]!.ms)} ms`);
  const started = performance.now();
  const rest = await Promise.all(Array.from({ length: 2990 }, (_, i) => ask(attacker, port, '/v1/models', `sk-wrong-${i + 10}`)));
  t.same(tally(rest), { 429: 2990 }, 'every later guess is refused unchecked');
  t.ok(
    rest.every((a) => a.code === 'PRX_ERR_RATE_LIMITED' && Number(a.retryAfter) >= 1),
    'with PRX_ERR_RATE_LIMITED and Retry-After',
  );
  t.comment(`2,990 refusals in ${Math.round(performance.now() - started)} ms`);
  t.equal((await ask(attacker, port, '/v1/models', GOOD_KEY)).status, 429, 'the throttled address is refused even with a good key');
  t.equal((await ask(agentFrom(t, '127.0.0.1'), port, '/v1/models', GOOD_KEY)).status, 200, 'a good key from another address is let in');
});

t.test('1,500 wrong admin tokens from one address: 10 answered 401, the rest 429; the admin elsewhere is let in', async (t) => {
  const { port } = await start(t);
  const attacker = agentFrom(t, '127.0.0.2');
  const answers: Answer[] = [];
  for (let i = 0; i < 10; i++) answers.push(await ask(attacker, port, '/nodes', `wrong-admin-token-${i}-0123456789`));
  answers.push(
    ...(await Promise.all(Array.from({ length: 1490 }, (_, i) => ask(attacker, port, '/nodes', `wrong-admin-${i}-0123456789`)))),
  );
  t.same(tally(answers), { 401: 10, 429: 1490 });
  t.ok(
    answers.slice(10).every((a) => a.code === undefined && Number(a.retryAfter) >= 1),
    'refusals carry Retry-After',
  );
  const rewards = await ask(attacker, port, '/admin/rewards', `still-wrong-0123456789`);
  t.equal(rewards.status, 429, 'the admin rewards report shares the throttle');
  t.equal((await ask(agentFrom(t, '127.0.0.1'), port, '/nodes', ADMIN)).status, 200, 'the admin token from another address works');
});

t.test('behind a trusted proxy the client address is the one X-Forwarded-For names', async (t) => {
  const { port } = await start(t, { trustProxy: true });
  const proxy = agentFrom(t, '127.0.0.1');
  const from = (address: string) => ({ 'x-forwarded-for': address });
  for (let i = 0; i < 10; i++) t.equal((await ask(proxy, port, '/v1/models', `sk-wrong-${i}`, from('203.0.113.7'))).status, 401);
  t.equal((await ask(proxy, port, '/v1/models', 'sk-wrong-x', from('203.0.113.7'))).status, 429);
  t.equal(
    (await ask(proxy, port, '/v1/models', GOOD_KEY, from('198.51.100.2'))).status,
    200,
    'another client behind the same proxy is let in',
  );
});
