import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { configFixtures } from '../fixtures/config-fixtures.js';
import { repoPath } from '../fixtures/paths.js';
import { runNode } from '../fixtures/processes/run-bin.js';

const { version } = JSON.parse(fs.readFileSync(repoPath('package.json'), 'utf8')) as { version: string };

for (const side of ['server', 'client'] as const) {
  const program = `proxima-${side}`;
  const bin = `bin/${program}.js`;
  const example = `config/${side}.yaml`;

  t.test(`${program} verify: a valid file exits 0`, async (t) => {
    t.same(await runNode(bin, ['verify', '-c', example]), { code: 0, stdout: `${example} is valid\n`, stderr: '' });
    t.same(await runNode(bin, ['verify', '--config', repoPath(example)]), {
      code: 0,
      stdout: `${repoPath(example)} is valid\n`,
      stderr: '',
    });
  });

  t.test(`${program} verify: an invalid file exits 2 listing every problem with its path`, async (t) => {
    const bad = configFixtures(side).invalid.find((f) => path.basename(f.file) === 'bad-values.yaml')!;
    const r = await runNode(bin, ['verify', '-c', bad.file]);
    t.equal(r.code, 2);
    t.equal(r.stdout, '');
    t.match(r.stderr, `${bad.file} is invalid:`);
    const reported = [...r.stderr.matchAll(/^ {2}(\S+): /gm)].map((m) => m[1]).sort();
    t.same(reported, bad.expected, 'one line per problem, all at once');
  });

  t.test(`${program} verify: a missing file exits 2`, async (t) => {
    const r = await runNode(bin, ['verify', '-c', 'no-such-file.yaml']);
    t.equal(r.code, 2);
    t.match(r.stderr, /no-such-file\.yaml is invalid:\n {2}\(file\): file not found/);
  });

  t.test(`${program}: --help, --version and usage errors`, async (t) => {
    const [help, verifyHelp, versionShown] = await Promise.all(
      [['--help'], ['verify', '--help'], ['--version']].map((argv) => runNode(bin, argv)),
    );
    t.equal(help!.code, 0);
    t.match(
      help!.stdout,
      new RegExp(`${program} verify[\\s\\S]*Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error, 3 authentication refused`),
    );
    t.equal(verifyHelp!.code, 0);
    t.match(verifyHelp!.stdout, /-c, --config/);
    t.same(versionShown, { code: 0, stdout: `${version}\n`, stderr: '' });
    // The frame's usage errors are tested in-process (test/cli/frame.test.ts); here, that they reach the exit code.
    // With no arguments the server runs on its embedded defaults (see test/server/cli/main.test.ts); the client needs -c.
    const usage = [...(side === 'client' ? [[]] : []), ['verify'], ['nope'], ['--no-such-option']];
    const results = await Promise.all(usage.map((argv) => runNode(bin, argv)));
    for (const [i, r] of results.entries()) {
      const argv = usage[i]!;
      t.equal(r.code, 2, `${program} ${argv.join(' ')}`);
      t.equal(r.stdout, '', `${program} ${argv.join(' ')}: nothing on stdout`);
      t.match(r.stderr, `${program}:`, `${program} ${argv.join(' ')}: stderr says why`);
    }
  });

  t.test(`${program}: the compiled CLI and its bundle also run when executed directly`, async (t) => {
    for (const script of [`dist/src/${side}/cli/main.js`, `dist/${program}/${program}.js`]) {
      t.same(await runNode(script, ['verify', '-c', example]), { code: 0, stdout: `${example} is valid\n`, stderr: '' }, script);
    }
  });
}
