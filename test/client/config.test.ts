import path from 'node:path';
import t from 'tap';
import { loadClientConfig, parseClientConfig } from '../../src/client/config.js';
import type { ConfigError } from '../../src/errors.js';
import { testConfigFixtures } from '../fixtures/config-fixtures.js';
import { repoPath } from '../fixtures/paths.js';

const fixture = (name: string): string => repoPath('test/fixtures/config/client', name);
const TOKEN = '0123456789abcdef0123456789abcdef';

testConfigFixtures('client', loadClientConfig);

t.test('server, name and token are enough: the node shares the local Ollama', async (t) => {
  t.same(loadClientConfig(fixture('valid/minimal.yaml')), {
    server: { host: 'proxima.example.com', port: 7000 },
    servers: [{ host: 'proxima.example.com', port: 7000 }],
    name: 'my-gpu',
    token: TOKEN,
    tls: false,
    services: [
      {
        name: 'ollama',
        kind: 'ollama',
        local: { host: '127.0.0.1', port: 11434 },
        hostHeader: 'localhost:11434',
        share: '*',
        maxConcurrent: 1,
        expose: 'network',
      },
    ],
    reconnect: { initialDelayMs: 500, maxDelayMs: 30_000 },
    heartbeat: { timeoutMs: 10_000 },
    models: { refreshIntervalMs: 30_000, maxBodyBytes: 32 * 1024 * 1024, bodyTimeoutMs: 60_000 },
    log: { level: 'info', format: 'auto' },
    runtime: { tuning: 'auto' },
    status: { listen: { host: '127.0.0.1', port: 4040 } },
  });
});

t.test('server as a list: every address in order, the first also as `server`; heartbeat as given', async (t) => {
  const c = loadClientConfig(fixture('valid/servers.yaml'));
  t.same(c.servers, [
    { host: 'a.example.com', port: 7000 },
    { host: '198.51.100.7', port: 7443 },
  ]);
  t.same(c.server, { host: 'a.example.com', port: 7000 });
  t.same(c.heartbeat, { intervalMs: 2_000, timeoutMs: 3_000 });
});

t.test('a full file: token read from its file and trimmed, paths absolute, services in order', async (t) => {
  const file = fixture('valid/full.yaml');
  const files = path.resolve(path.dirname(file), '../../files');
  const c = loadClientConfig(file);
  t.same(c.server, { host: '203.0.113.7', port: 7000 });
  t.equal(c.token, TOKEN, 'surrounding spaces and newlines are trimmed');
  t.equal(c.tokenFile, path.join(files, 'node.token'));
  t.same(c.tls, { ca: path.join(files, 'ca.pem'), servername: 'proxima.example.com' });
  t.same(c.services, [
    { name: 'web', kind: 'http', local: { host: 'localhost', port: 3000 }, hostHeader: 'blog.internal', expose: 'public' },
    {
      name: 'ollama',
      kind: 'ollama',
      local: { host: '::1', port: 11434 },
      hostHeader: 'localhost:11434',
      share: ['llama3.2:3b', 'qwen2.5:7b'],
      maxConcurrent: 4,
      expose: 'network',
    },
    { name: 'raw', kind: 'http', local: { host: '10.0.0.2', port: 80 }, expose: 'public' },
  ]);
  t.same(c.reconnect, { initialDelayMs: 1000, maxDelayMs: 300_000 });
  t.same(c.models, { refreshIntervalMs: 10_000, maxBodyBytes: 1_048_576, bodyTimeoutMs: 120_000 });
  t.same(c.log, { level: 'warn', format: 'json' });
  t.same(c.status, { listen: { host: '127.0.0.1', port: 4141 } });
});

t.test('the status page: 127.0.0.1:4040 by default, off with false, the default with true', async (t) => {
  const base = { server: 'h:1', name: 'alpha', token: TOKEN };
  t.same(parseClientConfig(base).status, { listen: { host: '127.0.0.1', port: 4040 } });
  t.equal(parseClientConfig({ ...base, status: false }).status, false);
  t.same(parseClientConfig({ ...base, status: true }).status, { listen: { host: '127.0.0.1', port: 4040 } });
  t.same(parseClientConfig({ ...base, status: { listen: '127.0.0.1:0' } }).status, { listen: { host: '127.0.0.1', port: 0 } });
  const err = t.throws(() => parseClientConfig({ ...base, status: 'on' })) as ConfigError;
  t.same(
    err.problems.map((p) => p.path),
    ['status'],
  );
});

t.test('tls: true trusts the system CAs; an ollama hostHeader follows its port', async (t) => {
  const c = loadClientConfig(fixture('valid/tls-true.yaml'));
  t.same(c.tls, {});
  t.same(
    c.services.map((s) => s.hostHeader),
    ['localhost:11435'],
  );
});

t.test('a token is never echoed in a problem', async (t) => {
  const err = t.throws(() => parseClientConfig({ server: 'h:1', name: 'alpha', token: 'my secret value' })) as ConfigError;
  t.same(
    err.problems.map((p) => p.path),
    ['token'],
  );
  t.notMatch(err.message, /secret/);
});

t.test('expose and auth: auth alone means protected; the defaults by kind; a plain password is refused by name', async (t) => {
  const c = loadClientConfig(fixture('valid/protected.yaml'));
  t.same(
    c.services.map((s) => [s.name, s.expose]),
    [
      ['ollama', 'network'],
      ['admin', 'protected'],
      ['blog', 'public'],
      ['lan', 'protected'],
    ],
  );
  t.same(c.services[1]!.auth, {
    basic: [{ user: 'alice', passwordHash: 'scrypt$16384$8$1$My_KOAPkAJwIh-8LDtkQ9A$0hwLw36WFEtnVNqyOQZ9vQidgPAsL6ZD77f6PTCnc6o' }],
    bearer: ['sha256$26f0460965cb0b82ab64e63f4a37d421decb163fc706c259956db7611d74b1ad'],
    deny: ['192.168.1.13'],
  });
  t.same(c.services[3]!.auth, { allow: ['192.168.0.0/16', '2001:db8::/32'] });
  const err = t.throws(() =>
    parseClientConfig({
      server: 'h:1',
      name: 'alpha',
      token: TOKEN,
      services: [{ name: 'web', local: '127.0.0.1:80', auth: { basic: [{ user: 'alice', password: 'hunter2', passwordHash: 'x' }] } }],
    }),
  ) as ConfigError;
  t.match(err.problems, [
    { path: 'services[0].auth.basic[0].password', message: /plain password is refused.*hash-password/ },
    { path: 'services[0].auth.basic[0].passwordHash', message: /scrypt\$N\$r\$p\$salt\$hash/ },
  ]);
  t.notMatch(err.message, /hunter2/, 'the password is never echoed');
});
