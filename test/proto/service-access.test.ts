import t from 'tap';
import {
  defaultExposure,
  exposureOf,
  hashPassword,
  hashToken,
  isTokenHash,
  parseAddressRange,
  parseScryptHash,
  tokenMatches,
  verifyPassword,
} from '../../src/proto/service-access.js';

const FAST = { N: 1024, r: 8, p: 1 };

t.test('password hashes: self-describing scrypt, verified in constant time, salted', async (t) => {
  const stored = await hashPassword('correct horse', FAST);
  t.match(stored, /^scrypt\$1024\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
  const parsed = parseScryptHash(stored)!;
  t.same([parsed.N, parsed.r, parsed.p, parsed.salt.length, parsed.hash.length], [1024, 8, 1, 16, 32]);
  t.equal(await verifyPassword('correct horse', parsed), true);
  t.equal(await verifyPassword('correct horsE', parsed), false);
  t.equal(await verifyPassword('', parsed), false);
  t.not(await hashPassword('correct horse', FAST), stored, 'a new salt every time');
  t.match(await hashPassword('x'), /^scrypt\$16384\$8\$1\$/, 'the default cost: N 16384, r 8, p 1');
});

t.test('password hashes that would cost too much or are not ours are refused', async (t) => {
  const salt = 'A'.repeat(22);
  const key = 'B'.repeat(43);
  const cases: [string, boolean][] = [
    [`scrypt$16384$8$1$${salt}$${key}`, true],
    [`scrypt$32768$8$1$${salt}$${key}`, true], // 32 MiB: the most a hash may cost
    [`scrypt$65536$8$1$${salt}$${key}`, false], // more: a hostile node's CPU and memory bomb
    [`scrypt$1048576$1$1$${salt}$${key}`, false],
    [`scrypt$1000$8$1$${salt}$${key}`, false], // not a power of two
    [`scrypt$512$8$1$${salt}$${key}`, false], // too cheap
    [`scrypt$16384$8$5$${salt}$${key}`, false],
    [`scrypt$16384$0$1$${salt}$${key}`, false],
    [`scrypt$16384$8$1$${salt}`, false],
    [`scrypt$16384$8$1$${salt}$${key}$x`, false],
    ['hunter2', false],
    [`bcrypt$16384$8$1$${salt}$${key}`, false],
  ];
  for (const [text, ok] of cases) t.equal(parseScryptHash(text) !== undefined, ok, text);
  t.equal(parseScryptHash(42), undefined);
});

t.test('token hashes: sha256 hex, compared in constant time', async (t) => {
  const h = hashToken('a-long-random-token-0123456789');
  t.match(h, /^sha256\$[0-9a-f]{64}$/);
  t.ok(isTokenHash(h));
  t.notOk(isTokenHash('sha256$ABC'));
  t.notOk(isTokenHash('a-long-random-token-0123456789'));
  t.equal(tokenMatches('a-long-random-token-0123456789', [hashToken('other-token-0123456789'), h]), true);
  t.equal(tokenMatches('a-long-random-token-012345678', [h]), false);
  t.equal(tokenMatches('x', []), false);
});

t.test('address ranges: IPv4 and IPv6, single addresses and CIDR blocks', async (t) => {
  t.same(parseAddressRange('10.0.0.0/8'), { address: '10.0.0.0', family: 'ipv4', prefix: 8 });
  t.same(parseAddressRange('192.168.1.13'), { address: '192.168.1.13', family: 'ipv4', prefix: 32 });
  t.same(parseAddressRange('2001:db8::/32'), { address: '2001:db8::', family: 'ipv6', prefix: 32 });
  t.same(parseAddressRange('::1'), { address: '::1', family: 'ipv6', prefix: 128 });
  for (const good of ['::', '::ffff:10.0.0.1', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:1.2.3.4', 'fe80::1/10', '0.0.0.0/0'])
    t.not(parseAddressRange(good), undefined, good);
  for (const bad of [
    '10.0.0.0/33',
    '256.0.0.1',
    '10.0.0',
    '1:2:3:4:5:6:7:8:9',
    '1::2::3',
    '2001:db8::zz',
    '::/129',
    'localhost',
    '10.0.0.0/',
    '',
    ' 10.0.0.1',
    '01.2.3.4',
  ])
    t.equal(parseAddressRange(bad), undefined, bad);
});

t.test('exposure: stated, else network for ollama and public for http', async (t) => {
  t.equal(defaultExposure('ollama'), 'network');
  t.equal(defaultExposure('http'), 'public');
  t.equal(exposureOf({ kind: 'ollama' }), 'network');
  t.equal(exposureOf({ kind: 'ollama', expose: 'public' }), 'public');
});
