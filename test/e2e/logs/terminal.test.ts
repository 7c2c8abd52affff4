/**
 * `log.format: auto` on a real terminal: proxima-server run under script(1), whose pseudo-terminal
 * is its stderr, writes readable lines, in colour unless NO_COLOR is set.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { repoPath } from '../../fixtures/paths.js';
import { within } from '../../fixtures/store-helpers.js';

const hasScript = fs.existsSync('/usr/bin/script');

/** Runs the server on a pseudo-terminal until it says `runtime tuning`; resolves with what the terminal showed. */
async function onTerminal(t: Test, env: NodeJS.ProcessEnv): Promise<string> {
  const dir = t.testdir();
  const file = path.join(dir, 'server.yaml');
  fs.writeFileSync(
    file,
    ['dataDir: ./data', 'control: { listen: "127.0.0.1:0" }', 'http: { listen: "127.0.0.1:0" }', 'api: { open: true }', ''].join('\n'),
  );
  const command = `'${process.execPath}' '${repoPath('bin', 'proxima-server.js')}' -c '${file}'`;
  const child = spawn('script', ['-qfec', command, '/dev/null'], {
    cwd: dir,
    env: { ...process.env, ...env },
    detached: true,
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
    await exited;
  });
  let out = '';
  await within(
    new Promise<void>((resolve) =>
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('runtime tuning')) resolve();
      }),
    ),
    20_000,
    'runtime tuning on the terminal',
  );
  return out;
}

t.test('auto on a terminal: pretty lines with a coloured level', { skip: !hasScript && 'no script(1)' }, async (t) => {
  const out = await onTerminal(t, { NO_COLOR: '' });
  t.match(out, /^\d\d:\d\d:\d\d\.\d{3} /m, 'a clock at the start of a line');
  t.match(out, '\x1b[32mINFO \x1b[0m listening  \x1b[2mcontrol=\x1b[0m{"host":"127.0.0.1"', 'the level in green, field names dimmed');
  t.notMatch(out, '{"time"', 'no JSON');
});

t.test('auto on a terminal with NO_COLOR: pretty lines, no escape sequence', { skip: !hasScript && 'no script(1)' }, async (t) => {
  const out = await onTerminal(t, { NO_COLOR: '1' });
  t.match(out, /\d\d:\d\d:\d\d\.\d{3} INFO {2}listening {2}control=\{"host":"127\.0\.0\.1"/);
  t.notMatch(out, '\x1b', 'no colour');
});
