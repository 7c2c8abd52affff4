import { spawn } from 'node:child_process';
import t from 'tap';
import { hashToken, parseScryptHash, verifyPassword } from '../../../src/proto/service-access.js';
import { repoPath } from '../../fixtures/paths.js';

/** Runs bin/proxima-client with `args`, `input` piped to its standard input. */
function run(args: string[], input: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [repoPath('bin/proxima-client.js'), ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input);
  });
}

t.test('hash-password reads standard input (one trailing newline dropped) and prints a verifiable scrypt hash', async (t) => {
  const { code, stdout } = await run(['hash-password'], 'correct horse\n');
  t.equal(code, 0);
  const hash = parseScryptHash(stdout.trim());
  t.ok(hash, stdout);
  t.equal(await verifyPassword('correct horse', hash!), true);
  t.equal(await verifyPassword('correct horse\n', hash!), false);
});

t.test('hash-token prints sha256$hex of the token; a short one or none is a usage error', async (t) => {
  const token = 'a-long-random-token-0123456789';
  const ok = await run(['hash-token'], `${token}\r\n`);
  t.same([ok.code, ok.stdout], [0, `${hashToken(token)}\n`]);
  const short = await run(['hash-token'], 'short\n');
  t.equal(short.code, 2);
  t.match(short.stderr, /at least 16 characters/);
  const empty = await run(['hash-password'], '');
  t.equal(empty.code, 2);
  t.match(empty.stderr, /no password given/);
});
