import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import type { ConfigError } from '../../../src/errors.js';
import { loadServerConfig, parseServerConfig } from '../../../src/server/config.js';
import { sha256Hex } from '../../../src/server/models/api-config.js';
import { repoPath } from '../../fixtures/paths.js';

t.test('keys in clear are kept as their SHA-256 only; keysFile entries join; routing durations convert', async (t) => {
  const c = loadServerConfig(repoPath('test/fixtures/config/server/valid/api.yaml'));
  t.same(c.api, {
    open: false,
    keys: [
      { id: 'alice', sha256: sha256Hex('alice-0123456789abcdef'), requestsPerMinute: 60, nodes: ['alpha', 'beta'] },
      { id: 'bob.2', sha256: '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824', nodes: [] },
      { id: 'carol', sha256: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08', nodes: ['carol-gpu'] },
    ],
    maxBodyBytes: 1_048_576,
    bodyTimeoutMs: 5000,
    keepAliveIntervalMs: 500,
    cors: { origins: [] },
  });
  t.notMatch(JSON.stringify(c), /alice-0123456789abcdef/, 'the key itself is nowhere in the config');
  t.same(c.routing, {
    maxQueued: 0,
    maxQueueWaitMs: 0,
    affinityEntries: 10_000,
    retryAfterMs: 2000,
    firstByteTimeoutMs: 600_000,
    idleTimeoutMs: 30_000,
    totalTimeoutMs: 3_600_000,
    maxAttempts: 1,
    breaker: { failures: 5, cooldownMs: 2000, maxCooldownMs: 60_000 },
    avoidFlagged: false,
    unhealthyGraceMs: 30_000,
  });
});

t.test('a key in a problem is never echoed; a bad keys file names itself', async (t) => {
  const err = t.throws(() => parseServerConfig({ api: { keys: [{ id: 'x', key: 'secret key 123' }] } })) as ConfigError;
  t.same(
    err.problems.map((p) => p.path),
    ['api.keys[0].key'],
  );
  t.notMatch(err.message, /secret key 123/);
  const dir = t.testdir({ 'keys.yaml': 'keys:\n  - { id: a, sha256: nothex }\n', 'list.yaml': '- a\n' });
  const bad = t.throws(() => parseServerConfig({ api: { keysFile: 'keys.yaml' } }, { baseDir: dir })) as ConfigError;
  t.same(
    bad.problems.map((p) => p.path),
    ['api.keysFile.keys[0].sha256'],
  );
  const list = t.throws(() => parseServerConfig({ api: { keysFile: 'list.yaml' } }, { baseDir: dir })) as ConfigError;
  t.same(
    list.problems.map((p) => p.path),
    ['api.keysFile'],
  );
  t.match(list.problems[0]!.message, new RegExp(path.join(dir, 'list.yaml').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')));
  t.ok(fs.existsSync(path.join(dir, 'list.yaml')));
});

t.test('the same key twice is refused, even under two ids', async (t) => {
  const err = t.throws(() =>
    parseServerConfig({
      api: {
        keys: [
          { id: 'a', key: 'same-0123456789abcdef' },
          { id: 'b', sha256: sha256Hex('same-0123456789abcdef') },
        ],
      },
    }),
  ) as ConfigError;
  t.same(
    err.problems.map((p) => p.path),
    ['api.keys'],
  );
});
