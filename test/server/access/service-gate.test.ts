import t from 'tap';
import { ErrorCodes, ProximaError } from '../../../src/errors.js';
import type { ServiceAdvert } from '../../../src/proto/control/messages.js';
import { parseRequestHead } from '../../../src/proto/http/request-head.js';
import { hashPassword, hashToken } from '../../../src/proto/service-access.js';
import { PasswordChecks } from '../../../src/server/access/password-checks.js';
import { ChallengeError, ServiceGate } from '../../../src/server/access/service-gate.js';
import { AuthThrottle } from '../../../src/server/api-host/auth-throttle.js';
import { errorPage } from '../../../src/server/public/error-page.js';

const head = (...fields: string[]) =>
  parseRequestHead(Buffer.from(['GET / HTTP/1.1', 'Host: web--alpha.proxima.test', ...fields, '', ''].join('\r\n'), 'latin1'));
const basic = (user: string, password: string) => `Authorization: Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const TOKEN = 'a-long-random-token-0123456789';

async function protectedService(): Promise<ServiceAdvert> {
  const passwordHash = await hashPassword('pw', { N: 1024, r: 8, p: 1 });
  return { name: 'web', kind: 'http', expose: 'protected', auth: { basic: [{ user: 'alice', passwordHash }], bearer: [hashToken(TOKEN)] } };
}

/** The outcome of a check, settled: 'ok', or the refusal's code (and challenge). */
async function outcome(gate: ServiceGate, service: ServiceAdvert, h: ReturnType<typeof head>, address = '10.0.0.1'): Promise<string> {
  try {
    await gate.check(service, h, address);
    return 'ok';
  } catch (err) {
    return err instanceof ChallengeError ? `${err.code} ${err.challenge}` : (err as { code: string }).code;
  }
}

t.test('exposure: public passes, network is refused, an old node without expose gets its kind default', async (t) => {
  const gate = new ServiceGate();
  t.equal(gate.check({ name: 'web', kind: 'http' }, head(), '10.0.0.1'), true);
  t.equal(gate.check({ name: 'web', kind: 'http', expose: 'public' }, head(), '10.0.0.1'), true);
  t.throws(() => gate.check({ name: 'ollama', kind: 'ollama' }, head(), '10.0.0.1'), { code: 'PRX_ERR_SERVICE_NOT_PUBLIC' });
  t.throws(() => gate.check({ name: 'web', kind: 'http', expose: 'network' }, head(), '10.0.0.1'), { code: 'PRX_ERR_SERVICE_NOT_PUBLIC' });
});

t.test('addresses: deny wins, an allow list refuses the rest; addresses only means no credential', async (t) => {
  const gate = new ServiceGate();
  const service: ServiceAdvert = {
    name: 'lan',
    kind: 'http',
    expose: 'protected',
    auth: { allow: ['10.0.0.0/8', 'fd00::/8'], deny: ['10.0.0.13'] },
  };
  t.equal(gate.check(service, head(), '10.1.2.3'), true);
  t.equal(gate.check(service, head(), '::ffff:10.1.2.3'), true);
  t.equal(gate.check(service, head(), 'fd00::7'), true);
  for (const refused of ['10.0.0.13', '192.168.0.1', '::1', 'garbage'])
    t.throws(() => gate.check(service, head(), refused), { code: 'PRX_ERR_FORBIDDEN' }, refused);
});

t.test('credentials: Basic and bearer, 401 with a challenge otherwise', async (t) => {
  const gate = new ServiceGate();
  const service = await protectedService();
  const challenge = 'PRX_ERR_UNAUTHORIZED Basic realm="web--alpha.proxima.test", charset="UTF-8"';
  t.equal(await outcome(gate, service, head(basic('alice', 'pw'))), 'ok');
  t.equal(await outcome(gate, service, head(`Authorization: Bearer ${TOKEN}`)), 'ok');
  t.equal(await outcome(gate, service, head(`Authorization: bearer ${TOKEN}`)), 'ok', 'the scheme in any case');
  for (const fields of [
    [],
    [basic('alice', 'PW')],
    [basic('bob', 'pw')],
    ['Authorization: Basic !!!'],
    ['Authorization: Bearer nope'],
    ['Authorization: Digest x'],
    [basic('alice', 'pw'), basic('alice', 'pw')],
  ])
    t.equal(await outcome(gate, service, head(...fields)), challenge, fields.join(' | ') || 'none');
  const bearerOnly: ServiceAdvert = { ...service, auth: { bearer: [hashToken(TOKEN)] } };
  t.equal(await outcome(gate, bearerOnly, head()), 'PRX_ERR_UNAUTHORIZED Bearer realm="web--alpha.proxima.test"');
});

t.test('scrypt runs once for a page of 50 requests with the same password', async (t) => {
  const passwords = new PasswordChecks();
  const gate = new ServiceGate(passwords);
  const service = await protectedService();
  const results = await Promise.all(Array.from({ length: 50 }, () => outcome(gate, service, head(basic('alice', 'pw')))));
  t.ok(results.every((r) => r === 'ok'));
  t.equal(passwords.runs, 1, 'concurrent checks of one credential share one run');
  t.equal(gate.check(service, head(basic('alice', 'pw')), '10.0.0.1'), true, 'then it is known at once');
  t.match(await outcome(gate, service, head(basic('alice', 'bad'))), /^PRX_ERR_UNAUTHORIZED/);
  t.match(await outcome(gate, service, head(basic('alice', 'bad'))), /^PRX_ERR_UNAUTHORIZED/);
  t.equal(passwords.runs, 2, 'a wrong password is remembered too: retrying it costs no scrypt');
});

t.test('an unknown user costs a scrypt run like a wrong password, and is refused even with a known password', async (t) => {
  const passwords = new PasswordChecks();
  const gate = new ServiceGate(passwords);
  const service = await protectedService();
  t.match(await outcome(gate, service, head(basic('mallory', 'pw'))), /^PRX_ERR_UNAUTHORIZED/, "alice's password under another name");
  t.equal(passwords.runs, 1, 'the check ran: no early answer for a name that does not exist');
  t.match(await outcome(gate, service, head(basic('mallory', 'pw'))), /^PRX_ERR_UNAUTHORIZED/, 'also once its verdict is known');
  t.equal(await outcome(gate, service, head(basic('alice', 'pw'))), 'ok', "the unknown user's verdict is not alice's");
  t.equal(passwords.runs, 2);
});

t.test('wrong credentials count against the address: past the limit 429, even for the right one; other addresses pass', async (t) => {
  let nowMs = 0;
  const throttle = new AuthThrottle({ freeFailures: 1, maxFailures: 3, decayMs: 6_000, now: () => nowMs });
  const passwords = new PasswordChecks();
  const gate = new ServiceGate(passwords, throttle);
  const service = await protectedService();
  for (const wrong of [basic('alice', 'x1'), basic('mallory', 'x2'), 'Authorization: Bearer nope'])
    t.match(await outcome(gate, service, head(wrong)), /^PRX_ERR_UNAUTHORIZED /, wrong);
  t.match(await outcome(gate, service, head()), /^PRX_ERR_UNAUTHORIZED /, 'no credential: the challenge, not counted');
  const runs = passwords.runs;
  t.equal(await outcome(gate, service, head(basic('alice', 'pw'))), 'PRX_ERR_RATE_LIMITED', 'the right password too');
  t.equal(passwords.runs, runs, 'and its check never ran');
  let refused: unknown;
  try {
    gate.check(service, head(basic('alice', 'pw')), '10.0.0.1');
  } catch (err) {
    refused = err;
  }
  t.match(errorPage(refused, { host: 'web--alpha.proxima.test' }).bytes.toString('latin1'), /\r\nRetry-After: 6\r\n/);
  t.equal(await outcome(gate, service, head(basic('alice', 'pw')), '10.0.0.2'), 'ok', 'another address is not affected');
  nowMs += 6_000;
  t.equal(await outcome(gate, service, head(basic('alice', 'pw'))), 'ok', 'one failure decayed: let in again');
});

t.test('failed work is bounded: past the checks running and waiting, 429', async (t) => {
  const passwords = new PasswordChecks({ concurrency: 1, maxWaiting: 2 });
  const gate = new ServiceGate(passwords);
  const service = await protectedService();
  const results = await Promise.all(Array.from({ length: 6 }, (_, i) => outcome(gate, service, head(basic('alice', `wrong-${i}`)))));
  t.equal(results.filter((r) => r === 'PRX_ERR_RATE_LIMITED').length, 3, 'one running, two waiting, the rest refused');
  t.equal(passwords.runs, 3);
});

t.test("the refusals' pages on a tenant host: status, code, challenge, Retry-After", async (t) => {
  const ctx = { host: 'web--alpha.proxima.test', node: 'alpha', service: 'web' };
  const page = (err: unknown) => errorPage(err, ctx).bytes.toString('latin1');
  t.match(
    page(new ChallengeError('Basic realm="web--alpha.proxima.test", charset="UTF-8"', 'x')),
    /^HTTP\/1\.1 401 Unauthorized\r\n[\s\S]*\r\nProxima-Error: PRX_ERR_UNAUTHORIZED\r\nWWW-Authenticate: Basic realm="web--alpha.proxima.test", charset="UTF-8"\r\nX-Request-Id: req_[0-9a-f]{32}\r\n\r\nnode alpha: service web needs a valid credential\n$/,
  );
  t.match(
    page(new ProximaError(ErrorCodes.FORBIDDEN, 'x')),
    /^HTTP\/1\.1 403 Forbidden\r\n[\s\S]*does not accept requests from your address\n$/,
  );
  t.match(
    page(new ProximaError(ErrorCodes.SERVICE_NOT_PUBLIC, 'x')),
    /^HTTP\/1\.1 403 [\s\S]*PRX_ERR_SERVICE_NOT_PUBLIC[\s\S]*reachable through the network's API\n$/,
  );
  t.match(page(new ProximaError(ErrorCodes.RATE_LIMITED, 'x')), /^HTTP\/1\.1 429 [\s\S]*\r\nRetry-After: 1\r\n/);
});
