import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { loginProof, parseToken } from '../../../src/proto/control/auth.js';
import { type OpenRegistryOptions, openRegistry } from '../../../src/server/registry/open-registry.js';
import type { Registry, RegistryEvents } from '../../../src/server/registry/registry.js';
import { runFixture, stopFixture } from '../../fixtures/processes/child-lines.js';
import { literal, within } from '../../fixtures/store-helpers.js';

const T0 = Date.UTC(2025, 5, 1);

async function open(
  t: Test,
  options: Partial<OpenRegistryOptions> = {},
): Promise<{ registry: Registry; clock: { nowMs: number }; dataDir: string }> {
  const clock = { nowMs: T0 };
  const dataDir = options.dataDir ?? t.testdir();
  const registry = await openRegistry({ dataDir, watch: false, pollIntervalMs: 0, now: () => clock.nowMs, ...options });
  t.teardown(() => registry.close());
  return { registry, clock, dataDir };
}

/** What a node sends to log in with `token`, answering a fresh nonce. */
function answer(registry: Registry, name: string, token: string, timeMs: number) {
  const nonce = registry.issueNonce();
  return { name, keyId: parseToken(token).keyId, nonce, timeMs, proof: loginProof(token, { nonce, name, timeMs }) };
}

function nextEvent<E extends keyof RegistryEvents>(registry: Registry, event: E, limitMs = 5_000): Promise<RegistryEvents[E][0]> {
  return within(new Promise((resolve) => registry.once(event, ((value: RegistryEvents[E][0]) => resolve(value)) as never)), limitMs, event);
}

const AUTH_FAILED = { code: 'PRX_ERR_AUTH_FAILED', message: 'authentication failed' };

t.test('add issues a token derived from the secret file; the store keeps only the key id', async (t) => {
  const { registry, dataDir } = await open(t);
  const { record, token } = await registry.add('alpha');
  t.match(record, { name: 'alpha', createdAt: new Date(T0).toISOString(), lastSeenAt: null, services: [] });
  const secret = fs.readFileSync(path.join(dataDir, 'secret'));
  const mac = createHmac('sha256', secret)
    .update(Buffer.from(`alpha\0${record.keyId}`))
    .digest('base64url');
  t.equal(token, `prx_${record.keyId}_${mac}`);
  const file = fs.readFileSync(path.join(dataDir, 'nodes.json'), 'utf8');
  t.notOk(file.includes(mac), 'no token in the store file');
  t.same(
    (await registry.list()).map((r) => r.name),
    ['alpha'],
  );
  t.equal((await registry.get('alpha'))!.keyId, record.keyId);
  await t.rejects(registry.add('alpha'), { code: 'PRX_ERR_NAME_TAKEN' });
  await t.rejects(registry.add('Alpha'), { code: 'PRX_ERR_NAME_INVALID' });
  await t.rejects(registry.add('a--b'), { code: 'PRX_ERR_NAME_INVALID' });
  await t.rejects(registry.add('api'), { code: 'PRX_ERR_NAME_RESERVED' });
  await t.rejects(registry.rotate('ghost'), { code: 'PRX_ERR_NODE_NOT_FOUND' });
  await t.rejects(registry.revoke('ghost'), { code: 'PRX_ERR_NODE_NOT_FOUND' });
});

t.test('a correct answer logs in once; every wrong part fails the same way', async (t) => {
  const { registry, clock } = await open(t);
  const { token } = await registry.add('alpha');
  await registry.add('beta');
  const good = answer(registry, 'alpha', token, T0);
  t.match(await registry.verifyLogin(good), { name: 'alpha' });
  await t.rejects(registry.verifyLogin(good), AUTH_FAILED, 'a nonce is single-use');

  const fresh = (): ReturnType<typeof answer> => answer(registry, 'alpha', token, T0);
  const otherNonce = registry.issueNonce();
  const wrong: Record<string, object> = {
    'unknown nonce': { ...fresh(), nonce: 'made-up' },
    'nonce of another login': { ...fresh(), nonce: otherNonce },
    'another name': { ...fresh(), name: 'beta' },
    'unknown name': { ...fresh(), name: 'gamma' },
    'another key id': { ...fresh(), keyId: 'ffffffffffffffff' },
    'malformed key id': { ...fresh(), keyId: 'nope' },
    'another time': { ...fresh(), timeMs: T0 + 1 },
    'time as a string': { ...fresh(), timeMs: String(T0) },
    'wrong proof': { ...fresh(), proof: loginProof(token + 'x', { nonce: 'n', name: 'alpha', timeMs: T0 }) },
    'the token itself as proof': { ...fresh(), proof: token },
    'no proof': { ...fresh(), proof: undefined },
  };
  for (const [why, attempt] of Object.entries(wrong)) {
    await t.rejects(registry.verifyLogin(attempt as never), AUTH_FAILED, why);
  }

  const late = fresh();
  clock.nowMs += 30_001;
  await t.rejects(registry.verifyLogin(late), AUTH_FAILED, 'an expired nonce');
  clock.nowMs = T0;
  await t.rejects(registry.verifyLogin(answer(registry, 'alpha', token, T0 - 300_001)), AUTH_FAILED, 'a clock too far behind');
  await t.rejects(registry.verifyLogin(answer(registry, 'alpha', token, T0 + 300_001)), AUTH_FAILED, 'a clock too far ahead');
  t.ok(await registry.verifyLogin(answer(registry, 'alpha', token, T0 + 299_000)), 'a clock within the skew window');
});

t.test('rotate and revoke take effect at once and are reported', async (t) => {
  const { registry } = await open(t);
  const { token: first } = await registry.add('alpha');
  const rotated = nextEvent(registry, 'rotated');
  const { token: second, record } = await registry.rotate('alpha');
  t.equal(await rotated, 'alpha');
  t.not(second, first);
  t.equal(parseToken(second).keyId, record.keyId);
  await t.rejects(registry.verifyLogin(answer(registry, 'alpha', first, T0)), AUTH_FAILED, 'the old token');
  t.ok(await registry.verifyLogin(answer(registry, 'alpha', second, T0)), 'the new token');
  const revoked = nextEvent(registry, 'revoked');
  await registry.revoke('alpha');
  t.equal(await revoked, 'alpha');
  await t.rejects(registry.verifyLogin(answer(registry, 'alpha', second, T0)), AUTH_FAILED, 'a revoked node');
  const { token: third } = await registry.add('alpha');
  await t.rejects(registry.verifyLogin(answer(registry, 'alpha', second, T0)), AUTH_FAILED, 're-added: the old token still fails');
  t.ok(await registry.verifyLogin(answer(registry, 'alpha', third, T0)));
});

t.test('unanswered nonces are bounded; the oldest is forgotten', async (t) => {
  const { registry } = await open(t, { maxNonces: 3 });
  const { token } = await registry.add('alpha');
  const oldest = answer(registry, 'alpha', token, T0);
  const kept = [1, 2, 3].map(() => answer(registry, 'alpha', token, T0));
  await t.rejects(registry.verifyLogin(oldest), AUTH_FAILED);
  for (const attempt of kept) t.ok(await registry.verifyLogin(attempt));
});

t.test('a login and touches record when and with what a node was last seen', async (t) => {
  const { registry, clock, dataDir } = await open(t);
  const { token } = await registry.add('alpha');
  clock.nowMs = T0 + 5_000;
  await registry.verifyLogin(answer(registry, 'alpha', token, clock.nowMs));
  registry.touch('alpha', ['web']);
  await registry.close();
  const again = await open(t, { dataDir });
  t.match(await again.registry.get('alpha'), { lastSeenAt: new Date(T0 + 5_000).toISOString(), services: ['web'] });
});

t.test('another process revoking or rotating is reported within a second', async (t) => {
  const { registry, dataDir } = await open(t, { watch: true, pollIntervalMs: 500 });
  const { token } = await registry.add('alpha');
  await registry.add('beta');
  for (const [command, event, name] of [
    ['rotate', 'rotated', 'alpha'],
    ['revoke', 'revoked', 'beta'],
  ] as const) {
    const seen = new Promise<string>((resolve) => registry.once(event, resolve));
    const cli = runFixture('registry-writer.js', [command, dataDir, name]);
    t.teardown(() => stopFixture(cli));
    await cli.waitForLine((line) => line.startsWith(`${event} `));
    t.equal(await within(seen, 1_000, `'${event}' after the other process wrote`), name, `${command} by another process`);
  }
  await t.rejects(registry.verifyLogin(answer(registry, 'alpha', token, T0)), AUTH_FAILED, 'the rotated-away token');
});

t.test('a store that goes corrupt is reported as an error', async (t) => {
  const { registry, dataDir } = await open(t, { pollIntervalMs: 20 });
  await registry.add('alpha');
  const failed = nextEvent(registry, 'error');
  fs.writeFileSync(path.join(dataDir, 'nodes.json'), 'garbage');
  t.match(await failed, { code: 'PRX_ERR_STORE_CORRUPT' });
  await t.rejects(registry.add('beta'), { code: 'PRX_ERR_STORE_CORRUPT' });
});

t.test('opening over a corrupt registry file fails naming it, and leaves it as it was', async (t) => {
  const garbage = '{"version":1,"nodes":[';
  const dataDir = t.testdir({ 'nodes.json': garbage });
  const file = path.join(dataDir, 'nodes.json');
  await t.rejects(openRegistry({ dataDir, watch: false }), { code: 'PRX_ERR_STORE_CORRUPT', message: literal(file) });
  await t.rejects(openRegistry({ dataDir, watch: false }), { code: 'PRX_ERR_STORE_CORRUPT' }, 'and again');
  t.equal(fs.readFileSync(file, 'utf8'), garbage);
  t.notOk(fs.existsSync(`${file}.lock`), 'no lock left behind');
});

t.test('tokenOwner: the node a token belongs to, re-derived from the secret; nothing for any other string', async (t) => {
  const { registry } = await open(t);
  const alpha = (await registry.add('alpha')).token;
  const beta = (await registry.add('beta')).token;
  t.match(await registry.tokenOwner(alpha), { name: 'alpha' });
  t.match(await registry.tokenOwner(beta), { name: 'beta' });
  const forged = `prx_${parseToken(alpha).keyId}_${'A'.repeat(43)}`;
  for (const token of [forged, 'prx_nonsense', '', alpha + 'x']) t.equal(await registry.tokenOwner(token), undefined, token);
  await registry.rotate('alpha');
  t.equal(await registry.tokenOwner(alpha), undefined, 'a rotated token');
  await registry.revoke('beta');
  t.equal(await registry.tokenOwner(beta), undefined, 'a revoked one');
});
