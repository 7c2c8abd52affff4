/**
 * The real proxima-server says at start what it keeps closed, one warning each with the fix, and
 * says nothing when keys, an admin token and control TLS (or a loopback control address) are set.
 */
import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { logLine, startBin } from '../../fixtures/processes/bin-process.js';
import type { LineChild } from '../../fixtures/processes/child-lines.js';
import { runNode } from '../../fixtures/processes/run-bin.js';
import { makeCertificate } from '../../fixtures/processes/tls-files.js';

const NO_KEYS = 'the API has no keys: every /v1 and /api call will be 401';
const NO_ADMIN = 'no admin token: registration over HTTP and the admin endpoints (/nodes, /keys, /rewards) are off';
const TLS_OFF = /^control TLS is off on 0\.0\.0\.0: /;

/** Writes server.yaml from `lines` in a fresh folder. */
function serverFile(t: Test, lines: string[]): { dir: string; file: string } {
  const dir = t.testdir();
  const file = path.join(dir, 'server.yaml');
  fs.writeFileSync(file, ['domain: proxima.test', 'dataDir: ./data', 'http: { listen: "127.0.0.1:0" }', ...lines, ''].join('\n'));
  return { dir, file };
}

/** Starts the server and resolves with its warn lines once it has said `runtime tuning` (the line after the warnings). */
async function warningsOf(t: Test, dir: string, file: string): Promise<{ server: LineChild; warnings: Record<string, string>[] }> {
  const server = startBin(t, 'proxima-server', ['-c', file], dir);
  await logLine(server, 'runtime tuning');
  const warnings = server.lines.map((l) => JSON.parse(l) as Record<string, string>).filter((l) => l.level === 'warn');
  return { server, warnings };
}

t.test('nothing set, control on 0.0.0.0 in clear: three warnings, each with its fix', async (t) => {
  const { dir, file } = serverFile(t, ['control: { listen: "0.0.0.0:0" }']);
  const { warnings } = await warningsOf(t, dir, file);
  t.same(
    warnings.map((w) => w.msg),
    [NO_KEYS, NO_ADMIN, warnings[2]?.msg],
  );
  t.match(warnings[2]!.msg, TLS_OFF);
  t.match(warnings[0]!.fix, 'proxima-server keys add NAME');
  t.match(warnings[0]!.fix, 'api.keys');
  t.match(warnings[1]!.fix, 'admin.tokenFile');
  t.match(warnings[2]!.fix, 'control.tls: { cert, key }');
});

t.test('keys in server.yaml, an admin token, control TLS: no warning', async (t) => {
  const { dir, file } = serverFile(t, []);
  const { cert, key } = makeCertificate(dir);
  fs.appendFileSync(
    file,
    [
      `control: { listen: "0.0.0.0:0", tls: { cert: ${cert}, key: ${key} } }`,
      'admin: { token: admin-0123456789abcdef }',
      'api: { keys: [{ id: ops, key: ops-key-0123456789abcdef }] }',
      '',
    ].join('\n'),
  );
  const { warnings } = await warningsOf(t, dir, file);
  t.same(warnings, []);
});

t.test('a key added with the CLI before start counts; loopback control in clear is not warned about', async (t) => {
  const { dir, file } = serverFile(t, ['control: { listen: "127.0.0.1:0" }', 'registration: { mode: open }']);
  await runNode('bin/proxima-server.js', ['keys', 'add', 'bob', '-c', file], dir);
  const { warnings } = await warningsOf(t, dir, file);
  t.same(
    warnings.map((w) => w.msg),
    ['no admin token: the admin endpoints (/nodes list and revoke, /keys, /rewards) are off'],
    'open registration: only the admin endpoints are off',
  );
});

t.test('api.open: no key warning; log.format: pretty writes readable lines into a pipe', async (t) => {
  const { dir, file } = serverFile(t, ['control: { listen: "127.0.0.1:0" }', 'api: { open: true }', 'log: { format: pretty }']);
  const server = startBin(t, 'proxima-server', ['-c', file], dir);
  await server.waitForLine((l) => l.includes(' INFO  runtime tuning  '));
  t.match(
    server.lines.find((l) => l.includes('listening')),
    /^\d\d:\d\d:\d\d\.\d{3} INFO {2}listening {2}control=\{"host":"127\.0\.0\.1","port":\d+/,
  );
  t.same(
    server.lines.filter((l) => l.includes(' WARN ')).map((l) => l.replace(/^\S+ /, '').replace(/ {2}fix=.*$/, '')),
    [`WARN  ${NO_ADMIN}`],
  );
  t.notMatch(server.lines.join('\n'), '\x1b', 'no colours outside a terminal');
});
