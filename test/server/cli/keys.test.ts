import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { runNode } from '../../fixtures/processes/run-bin.js';
import { tempDir } from '../../fixtures/stacks/control-plane.js';

const BIN = 'bin/proxima-server.js';

/** A server.yaml with a data folder and one key of its own (id `ops`), in a fresh test folder. */
function serverYaml(t: Test): { dir: string; file: string } {
  const dir = tempDir(t);
  const file = path.join(dir, 'server.yaml');
  fs.writeFileSync(file, 'dataDir: ./data\napi:\n  keys:\n    - { id: ops, key: ops-key-0123456789abcdef }\n');
  return { dir, file };
}

const keys = (file: string, ...args: string[]) => runNode(BIN, ['keys', ...args, '-c', file]);

t.test('keys add prints the key once; list, set and revoke, with exit codes scripts can rely on', async (t) => {
  const { file, dir } = serverYaml(t);
  const added = await keys(file, 'add', 'alice', '--tpm', '20000', '--budget', '50', '--per', 'day', '--models', 'llama3.2,qwen2.5:0.5b');
  t.equal(added.code, 0, added.stderr);
  const [, id, key] =
    /^API key alice added \(id (key-[0-9a-f]{12})\)\. The key, shown only this once:\n(prx-[\w-]{43})\n$/.exec(added.stdout) ?? [];
  t.ok(key, 'the key is printed once, on a line of its own');
  const stored = fs.readFileSync(path.join(dir, 'data', 'keys.json'), 'utf8');
  t.notOk(stored.includes(key!), 'and not stored');
  const bob = JSON.parse((await keys(file, 'add', 'bob', '--rpm', '60', '--nodes', 'alpha,beta', '--json')).stdout);
  t.match(bob, { id: /^key-/, name: 'bob', requestsPerMinute: 60, nodes: ['alpha', 'beta'], key: /^prx-/, revokedAt: null });
  t.notOk('sha256' in bob, 'no digest shown');

  const table = await keys(file, 'list');
  t.match(
    table.stdout,
    new RegExp(
      `^ID +NAME +RPM +TPM +BUDGET +MODELS +NODES +CREATED +REVOKED\n${id} +alice +- +20000 +50/day +llama3.2:latest,qwen2.5:0.5b +- +\\d{4}-\\S+ +-\n${bob.id} +bob +60 +- +- +all +alpha,beta `,
    ),
  );
  t.notOk(/[0-9a-f]{64}/.test(table.stdout), 'no digest in the table');

  t.same(await keys(file, 'set', 'alice', '--clear', 'budget', 'models', '--rpm', '10'), {
    code: 0,
    stdout: `API key alice (id ${id}) changed\n`,
    stderr: '',
  });
  t.same(await keys(file, 'set', id!, '--name', 'alicia'), { code: 0, stdout: `API key alicia (id ${id}) changed\n`, stderr: '' });
  const revoked = await keys(file, 'revoke', 'bob');
  t.equal(revoked.stdout, `API key bob (id ${bob.id}) revoked: it no longer works\n`);
  const listed = JSON.parse((await keys(file, 'list', '--json')).stdout).keys as Record<string, unknown>[];
  t.match(listed, [
    { id, name: 'alicia', requestsPerMinute: 10, tokensPerMinute: 20000, budget: null, models: null },
    { id: bob.id, name: 'bob', revokedAt: /^\d{4}-/ },
  ]);

  const failures: [string[], number][] = [
    [['add'], 2],
    [['list', 'alice'], 2],
    [['add', 'carol', '--budget', '5'], 2],
    [['add', 'carol', '--tpm', '0'], 2],
    [['add', 'carol', '--models', 'no good'], 2],
    [['add', 'Bad Name'], 2],
    [['set', 'alicia'], 2],
    [['add', 'alicia'], 1],
    [['add', 'ops'], 1],
    [['set', 'ghost', '--rpm', '1'], 1],
    [['revoke', 'ghost'], 1],
  ];
  const results = await Promise.all(failures.map(([args]) => keys(file, ...args)));
  for (const [i, r] of results.entries()) {
    const [args, code] = failures[i]!;
    t.equal(r.code, code, `keys ${args.join(' ')} exits ${code}`);
    t.equal(r.stdout, '', 'nothing on stdout');
    t.match(r.stderr, /^proxima-server: /, 'the reason on stderr');
  }
  t.match(results[8]!.stderr, /"ops" is the id of a key in server.yaml/);
  t.match(results[3]!.stderr, /^proxima-server: --tpm: must be a whole number from 1 to 1000000000/, 'a bad value names its flag');
  t.match(results[4]!.stderr, /^proxima-server: --models: "no good" is not a model name/);
});

t.test('a corrupt keys.json stops the server at start with exit 1, naming the file; keys commands fail the same way', async (t) => {
  const { file, dir } = serverYaml(t);
  fs.mkdirSync(path.join(dir, 'data'));
  const keysFile = path.join(dir, 'data', 'keys.json');
  fs.writeFileSync(keysFile, '{');
  const escaped = keysFile.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  const server = await runNode(BIN, ['-c', file]);
  t.equal(server.code, 1);
  t.match(server.stderr, new RegExp(`^proxima-server: key file ${escaped} is corrupt \\(not valid JSON\\)`, 'm'));
  const list = await keys(file, 'list');
  t.same([list.code, list.stdout], [1, '']);
  t.match(list.stderr, new RegExp(`^proxima-server: key file ${escaped} is corrupt`));
  t.equal(fs.readFileSync(keysFile, 'utf8'), '{', 'left untouched');
});
