import fs from 'node:fs';
import t from 'tap';
import { type CliCommand, type CliProgram, ExitCode, exitCodeFor, runCli } from '../../src/cli/frame.js';
import { ConfigError, ErrorCodes, ProximaError } from '../../src/errors.js';
import { repoPath } from '../fixtures/paths.js';

const FAILURES = {
  auth: () => new ProximaError(ErrorCodes.AUTH_FAILED, 'refused'),
  config: () => new ConfigError([{ path: 'a.b', message: 'bad' }], 'x.yaml'),
  usage: () => new ProximaError(ErrorCodes.USAGE, 'wrong'),
  unreachable: () => new ProximaError(ErrorCodes.TARGET_UNREACHABLE, 'no route'),
  plain: () => new Error('plain failure'),
} as const;

const ok: CliCommand<{ loud: boolean }> = {
  command: 'ok',
  describe: 'succeeds',
  builder: (y) => y.option('loud', { type: 'boolean', default: false }),
  async run({ loud }, out) {
    out.stdout.write(loud ? 'DONE\n' : 'done\n');
    return ExitCode.OK;
  },
};

const boom: CliCommand<{ kind: string }> = {
  command: 'boom <kind>',
  describe: 'throws an error of one kind',
  builder: (y) => y.positional('kind', { type: 'string', choices: Object.keys(FAILURES), demandOption: true }),
  async run({ kind }) {
    throw FAILURES[kind as keyof typeof FAILURES]();
  },
};

const program: CliProgram = { name: 'px-test', commands: [ok, boom] };

/** Runs the test program in-process with real yargs, capturing what it writes. */
async function run(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } };
  const code = await runCli(program, argv, out);
  return { code, stdout, stderr };
}

t.test('a command runs and its exit code is returned', async (t) => {
  t.same(await run('ok'), { code: 0, stdout: 'done\n', stderr: '' });
  t.same(await run('ok', '--loud'), { code: 0, stdout: 'DONE\n', stderr: '' });
});

t.test('thrown errors become exit codes, with their message on stderr', async (t) => {
  const want: Record<keyof typeof FAILURES, number> = { auth: 3, config: 2, usage: 2, unreachable: 1, plain: 1 };
  for (const [kind, code] of Object.entries(want)) {
    const r = await run('boom', kind);
    t.equal(r.code, code, kind);
    t.equal(r.stdout, '', `${kind}: nothing on stdout`);
    t.match(r.stderr, /^px-test: /, `${kind}: stderr names the program`);
  }
  t.match((await run('boom', 'config')).stderr, /x\.yaml is invalid:\n {2}a\.b: bad/);
  t.match((await run('boom', 'plain')).stderr, /plain failure/);
});

t.test('usage errors exit 2 and point at --help', async (t) => {
  for (const argv of [['nope'], ['ok', '--zzz'], ['boom'], ['boom', 'other'], ['ok', 'extra']]) {
    const r = await run(...argv);
    t.equal(r.code, ExitCode.USAGE, argv.join(' '));
    t.match(r.stderr, /Run "px-test --help" for usage\./, argv.join(' '));
  }
});

t.test('no command prints the help on stderr and exits 2', async (t) => {
  const r = await run();
  t.equal(r.code, 2);
  t.equal(r.stdout, '');
  t.match(r.stderr, /Commands:[\s\S]*px-test ok[\s\S]*a command is required/);
});

t.test('--help and --version exit 0 on stdout', async (t) => {
  const help = await run('--help');
  t.equal(help.code, 0);
  t.match(
    help.stdout,
    /Usage: px-test <command>[\s\S]*px-test boom <kind>[\s\S]*Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error, 3 authentication refused/,
  );
  const sub = await run('ok', '--help');
  t.equal(sub.code, 0);
  t.match(sub.stdout, /--loud/);
  t.equal(sub.stdout.includes('done'), false, 'help does not run the command');
  const { version } = JSON.parse(fs.readFileSync(repoPath('package.json'), 'utf8')) as { version: string };
  t.same(await run('--version'), { code: 0, stdout: `${version}\n`, stderr: '' });
});

t.test('exitCodeFor', async (t) => {
  t.equal(exitCodeFor(FAILURES.auth()), 3);
  t.equal(exitCodeFor(FAILURES.config()), 2);
  t.equal(exitCodeFor(FAILURES.usage()), 2);
  t.equal(exitCodeFor(FAILURES.unreachable()), 1);
  t.equal(exitCodeFor('a string'), 1);
});

t.test('--help wraps at the terminal width, between words, never inside one', async (t) => {
  const { main: server } = await import('../../src/server/cli/main.js');
  const { main: client } = await import('../../src/client/cli/main.js');
  const help = async (main: typeof server, argv: string[], columns?: number): Promise<string> => {
    let text = '';
    const code = await main(argv, { stdout: { write: (s: string) => (text += s), columns }, stderr: { write: () => true } });
    t.equal(code, 0, `${argv.join(' ')} at ${columns ?? 'no'} columns`);
    return text;
  };
  const words = (text: string): string[] => text.split(/\s+/).filter((w) => w !== '');
  for (const [main, argv] of [
    [server, ['nodes', '--help']],
    [server, ['rewards', '--help']],
    [client, ['register', '--help']],
    [client, ['--help']],
  ] as const) {
    const wide = await help(main, [...argv], 1000);
    for (const columns of [50, 64, 80]) {
      const narrow = await help(main, [...argv], columns);
      const long = narrow.split('\n').filter((line) => line.length > columns);
      t.same(long, [], `${argv.join(' ')}: no line is wider than ${columns} columns`);
      t.same(words(narrow), words(wide), `${argv.join(' ')} at ${columns} columns: the same words, none cut`);
    }
  }
  const piped = await help(server, ['nodes', '--help']);
  t.ok(
    piped.split('\n').some((line) => line.length > 80 && line.length <= 100),
    'not a terminal: 100 columns',
  );
});

t.test('with no command, the help on stderr wraps at stderr’s terminal width', async (t) => {
  let stderr = '';
  const code = await runCli(program, [], {
    stdout: { write: () => true, columns: 200 },
    stderr: { write: (s: string) => (stderr += s), columns: 40 },
  });
  t.equal(code, ExitCode.USAGE);
  t.match(stderr, /px-test: a command is required\n$/);
  t.same(
    stderr.split('\n').filter((line) => line.length > 40),
    [],
    'no line wider than 40 columns',
  );
});
