import path from 'node:path';
import t from 'tap';
import { parseYaml, readYamlFile } from '../../src/config/yaml.js';
import { ConfigError } from '../../src/errors.js';

function problems(fn: () => unknown): { path: string; message: string }[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  return [];
}

t.test('an empty document is an empty mapping', async (t) => {
  for (const text of ['', '\n', '# only a comment\n', '---\n', '~\n']) t.same(parseYaml(text), {}, JSON.stringify(text));
});

t.test('a mapping is returned as plain data', async (t) => {
  t.same(parseYaml('a: 1\nb: [x, "y"]\nc: {d: true}\n'), { a: 1, b: ['x', 'y'], c: { d: true } });
  t.same(parseYaml('on: yes\n'), { on: 'yes' }, 'YAML 1.2: yes and on are strings, not booleans');
});

t.test('a syntax error names the file, line and column', async (t) => {
  const err = t.throws(() => parseYaml('a: 1\nb:\n  - x\n  y: 2\n', 'bad.yaml'), {
    code: 'PRX_ERR_CONFIG_INVALID',
    file: 'bad.yaml',
  }) as ConfigError;
  t.equal(err.problems.length, 1);
  t.equal(err.problems[0]!.path, 'line 4 column 3');
  t.match(err.message, /^bad\.yaml is invalid:\n {2}line 4 column 3: YAML syntax error/);
  t.ok(err.cause instanceof Error, 'the YAML error is kept as cause');
});

t.test('duplicate keys, several documents and custom tags are refused', async (t) => {
  t.same(
    problems(() => parseYaml('a: 1\na: 2\n')).map((p) => p.path),
    ['line 2 column 1'],
  );
  t.same(
    problems(() => parseYaml('a: 1\n---\nb: 2\n')).map((p) => p.path),
    ['(top level)'],
    'one document only',
  );
  const tagged = problems(() => parseYaml('a: !!js/function "function () {}"\n'));
  t.match(tagged[0]!.message, /unknown tag/);
  t.equal(problems(() => parseYaml('a: !custom 1\n')).length, 1);
});

t.test('a top level that is not a mapping is a problem at (top level)', async (t) => {
  for (const text of ['- a\n', 'hello\n', '42\n', '2024-01-01\n']) {
    t.same(
      problems(() => parseYaml(text)).map((p) => p.path),
      ['(top level)'],
      JSON.stringify(text),
    );
  }
});

t.test('readYamlFile reads a file; a missing one is a problem at (file) with the system error as cause', async (t) => {
  const dir = t.testdir({ 'ok.yaml': 'domain: example.com\n' });
  t.same(readYamlFile(path.join(dir, 'ok.yaml')), { domain: 'example.com' });
  const missing = path.join(dir, 'missing.yaml');
  const err = t.throws(() => readYamlFile(missing), { code: 'PRX_ERR_CONFIG_INVALID', file: missing }) as ConfigError;
  t.same(
    err.problems.map((p) => p.path),
    ['(file)'],
  );
  t.equal((err.cause as NodeJS.ErrnoException).code, 'ENOENT');
  const folder = t.throws(() => readYamlFile(dir), { code: 'PRX_ERR_CONFIG_INVALID' }) as ConfigError;
  t.equal((folder.cause as NodeJS.ErrnoException).code, 'EISDIR');
});
