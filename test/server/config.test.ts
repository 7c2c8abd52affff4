import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import type { ConfigError } from '../../src/errors.js';
import { DEFAULT_SERVER_CONFIG, loadServerConfig, parseServerConfig } from '../../src/server/config.js';
import { testConfigFixtures } from '../fixtures/config-fixtures.js';
import { repoPath } from '../fixtures/paths.js';

testConfigFixtures('server', loadServerConfig);

t.test('the embedded defaults', async (t) => {
  t.same(DEFAULT_SERVER_CONFIG, {
    domain: 'localhost',
    dataDir: 'data',
    control: {
      listen: { host: '0.0.0.0', port: 7000 },
      handshakeTimeoutMs: 10_000,
      preambleTimeoutMs: 3_000,
      maxHandshakes: 1024,
      maxHandshakesPerAddress: 16,
      heartbeatIntervalMs: 15_000,
      heartbeatTimeoutMs: 10_000,
    },
    http: {
      listen: { host: '0.0.0.0', port: 8080 },
      trustProxy: false,
      maxHeadBytes: 32_768,
      headTimeoutMs: 10_000,
      idleTimeoutMs: 60_000,
      bodyTimeoutMs: 600_000,
      drainTimeoutMs: 30_000,
      maxConnections: 10_000,
    },
    registration: { mode: 'admin', openRatePerMinute: 10 },
    admin: { listen: { host: '127.0.0.1', port: 7070 } },
    metrics: { enabled: true },
    api: {
      open: false,
      keys: [],
      maxBodyBytes: 16 * 1024 * 1024,
      bodyTimeoutMs: 30_000,
      keepAliveIntervalMs: 15_000,
      cors: { origins: [] },
    },
    routing: {
      maxQueued: 256,
      maxQueueWaitMs: 30_000,
      affinityEntries: 10_000,
      retryAfterMs: 5_000,
      firstByteTimeoutMs: 300_000,
      idleTimeoutMs: 60_000,
      totalTimeoutMs: 0,
      maxAttempts: 3,
      breaker: { failures: 3, cooldownMs: 5_000, maxCooldownMs: 300_000 },
      avoidFlagged: true,
      unhealthyGraceMs: 600_000,
    },
    models: { aliases: new Map(), fallbacks: new Map() },
    ledger: DEFAULT_SERVER_CONFIG.ledger,
    rewards: DEFAULT_SERVER_CONFIG.rewards,
    presence: { leaseIntervalMs: 5_000, writeDelayMs: 1_000, leaseExpiryMs: 10_000 },
    log: { level: 'info', format: 'auto', access: true },
    runtime: { tuning: 'auto' },
  });
  t.notOk('tls' in DEFAULT_SERVER_CONFIG.control, 'no TLS by default');
  t.throws(
    () => {
      (DEFAULT_SERVER_CONFIG.http.listen as { port: number }).port = 1;
    },
    TypeError,
    'frozen all the way down',
  );
  const loaded = loadServerConfig();
  t.equal(loaded.dataDir, path.resolve('data'), 'no file: dataDir under the working directory');
  t.same({ ...loaded, dataDir: 'data' }, DEFAULT_SERVER_CONFIG, 'no file: otherwise the defaults');
  t.same(loadServerConfig(repoPath('test/fixtures/config/server/valid/empty.yaml')).http, DEFAULT_SERVER_CONFIG.http, 'an empty file');
});

t.test('a full file: values converted, paths resolved against the file folder, admin token read and trimmed', async (t) => {
  const file = repoPath('test/fixtures/config/server/valid/full.yaml');
  const folder = path.dirname(file);
  const c = loadServerConfig(file);
  t.equal(c.domain, 'proxima.example.com', 'the domain is lower-cased');
  t.equal(c.dataDir, path.resolve(folder, '../state'));
  t.same(c.control.listen, { host: '127.0.0.1', port: 7100 });
  t.same(c.control.tls, {
    cert: path.resolve(folder, '../../files/control-cert.pem'),
    key: path.resolve(folder, '../../files/control-key.pem'),
  });
  t.same([c.control.handshakeTimeoutMs, c.control.heartbeatIntervalMs, c.control.heartbeatTimeoutMs], [5000, 20_000, 8000]);
  t.same([c.control.preambleTimeoutMs, c.control.maxHandshakes, c.control.maxHandshakesPerAddress], [2000, 512, 8]);
  t.same(c.http, {
    listen: { host: '127.0.0.1', port: 8180 },
    publicUrl: 'https://{node}.gpu.example.com/',
    trustProxy: true,
    maxHeadBytes: 16_384,
    headTimeoutMs: 7000,
    idleTimeoutMs: 90_000,
    bodyTimeoutMs: 1_200_000,
    drainTimeoutMs: 0,
    maxConnections: 500,
  });
  t.same(c.registration, { mode: 'open', openRatePerMinute: 60 });
  t.same(c.admin, { token: 'admin-0123456789abcdef', listen: { host: '127.0.0.1', port: 7070 } });
  t.equal(c.log.level, 'debug');
  t.equal(c.log.format, 'pretty');
});

t.test('listen addresses as :port, a bare port and [v6]:port; durations with units', async (t) => {
  const c = loadServerConfig(repoPath('test/fixtures/config/server/valid/listen-forms.yaml'));
  t.same(c.control.listen, { host: '0.0.0.0', port: 0 });
  t.same(c.http.listen, { host: '0.0.0.0', port: 8181 });
  t.same([c.control.handshakeTimeoutMs, c.control.heartbeatIntervalMs, c.control.heartbeatTimeoutMs], [2000, 60_000, 500]);
  t.equal(c.http.idleTimeoutMs, 3_600_000);
  const v6 = loadServerConfig(repoPath('test/fixtures/config/server/valid/ipv6.yaml'));
  t.same(
    [v6.control.listen, v6.http.listen],
    [
      { host: '::1', port: 7000 },
      { host: '::', port: 8080 },
    ],
  );
  t.same(v6.admin, { token: '0123456789abcdef', listen: { host: '127.0.0.1', port: 7070 } });
});

t.test('a relative dataDir means the config file folder; an absolute one stays', async (t) => {
  const elsewhere = path.join(os.tmpdir(), 'proxima-data');
  const dir = t.testdir({ 'server.yaml': 'dataDir: ./state\n', 'abs.yaml': `dataDir: ${JSON.stringify(elsewhere)}\n` });
  t.equal(loadServerConfig(path.join(dir, 'server.yaml')).dataDir, path.join(dir, 'state'));
  t.equal(loadServerConfig(path.join(dir, 'abs.yaml')).dataDir, elsewhere);
  t.equal(parseServerConfig({ dataDir: 'x' }, { baseDir: dir }).dataDir, path.join(dir, 'x'), 'parse takes a baseDir');
});

t.test('log.format: auto, json or pretty; anything else names the field', async (t) => {
  t.equal(parseServerConfig({ log: { format: 'json' } }).log.format, 'json');
  const err = t.throws(() => parseServerConfig({ log: { format: 'colour' } })) as ConfigError;
  t.same(
    err.problems.map((p) => p.path),
    ['log.format'],
  );
  t.match(err.message, /log\.format/);
});

t.test('an admin token is never echoed in a problem', async (t) => {
  const dir = t.testdir({ 'admin.token': 'tiny secret\n' });
  const err = t.throws(() => parseServerConfig({ admin: { token: 'tiny secret' } })) as ConfigError;
  t.notMatch(err.message, /tiny secret/);
  const fromFile = t.throws(() => parseServerConfig({ admin: { tokenFile: 'admin.token' } }, { baseDir: dir })) as ConfigError;
  t.same(
    fromFile.problems.map((p) => p.path),
    ['admin.tokenFile'],
  );
  t.notMatch(fromFile.message, /tiny secret/);
});

t.test('a missing file is a config error on (file), keeping the system error as cause', async (t) => {
  const file = path.join(t.testdir(), 'nope.yaml');
  const err = t.throws(() => loadServerConfig(file), { code: 'PRX_ERR_CONFIG_INVALID', file }) as ConfigError;
  t.same(
    err.problems.map((p) => p.path),
    ['(file)'],
  );
  t.equal((err.cause as NodeJS.ErrnoException).code, 'ENOENT');
});

t.test('http.trustProxy: true, false or a list of addresses and CIDR ranges; a bad range is named', async (t) => {
  const trust = (value: unknown) => parseServerConfig({ http: { trustProxy: value } }).http.trustProxy;
  t.equal(trust(true), true);
  t.equal(trust(false), false);
  t.same(trust(['10.0.0.5', '10.1.0.0/16', 'fd00::/8']), ['10.0.0.5', '10.1.0.0/16', 'fd00::/8']);
  for (const [value, at] of [
    [['10.0.0.0/33'], 'http.trustProxy[0]'],
    [['10.0.0.1', 'nginx.local'], 'http.trustProxy[1]'],
    [[], 'http.trustProxy'],
    ['yes', 'http.trustProxy'],
  ] as const) {
    const err = t.throws(() => trust(value)) as ConfigError;
    t.same(
      err.problems.map((p) => p.path),
      [at],
      JSON.stringify(value),
    );
  }
});

t.test('admin.listen: host:port, a port, or false; metrics: on by default, an optional token', async (t) => {
  t.same(parseServerConfig({ admin: { listen: false } }).admin, { listen: false });
  t.same(parseServerConfig({ admin: { listen: 9100 } }).admin, { listen: { host: '0.0.0.0', port: 9100 } });
  t.same(parseServerConfig({ admin: { listen: '[::1]:0' } }).admin.listen, { host: '::1', port: 0 });
  const bad = t.throws(() => parseServerConfig({ admin: { listen: true } })) as ConfigError;
  t.match(bad.message, /admin\.listen: must be host:port, :port, a port, or false/);
  t.same(parseServerConfig({ metrics: { enabled: false } }).metrics, { enabled: false });
  t.same(parseServerConfig({ metrics: { token: 'scrape-0123456789ab' } }).metrics, { enabled: true, token: 'scrape-0123456789ab' });
  const short = t.throws(() => parseServerConfig({ metrics: { token: 'short' } })) as ConfigError;
  t.match(short.message, /metrics\.token/);
  const both = t.throws(() => parseServerConfig({ metrics: { token: 'scrape-0123456789ab', tokenFile: 'x' } })) as ConfigError;
  t.match(both.message, /metrics\.tokenFile/);
});

t.test('presence.leaseExpiryMs: 10 s by default (2 intervals when those are longer), and longer than the interval', async (t) => {
  t.equal(parseServerConfig({}).presence.leaseExpiryMs, 10_000);
  t.equal(parseServerConfig({ presence: { leaseIntervalMs: '8s' } }).presence.leaseExpiryMs, 16_000, 'a long interval stays valid');
  t.equal(parseServerConfig({ presence: { leaseExpiryMs: '3s', leaseIntervalMs: '1s' } }).presence.leaseExpiryMs, 3_000);
  const err = t.throws(() => parseServerConfig({ presence: { leaseExpiryMs: '5s' } })) as ConfigError;
  t.match(err.message, /presence\.leaseExpiryMs: must be longer than presence\.leaseIntervalMs \(5000 ms\)/);
});
