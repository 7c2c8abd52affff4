import t from 'tap';
import {
  boolean,
  fail,
  integer,
  isSet,
  list,
  map,
  object,
  oneOf,
  optional,
  type Schema,
  section,
  string,
  union,
  validate,
  withDefault,
} from '../../src/config/schema.js';
import { ConfigError } from '../../src/errors.js';

/** The problems `validate` reports for `raw`, as `path: message` lines; [] when it is valid. */
function report(schema: Schema<unknown>, raw: unknown): string[] {
  try {
    validate(schema, raw, { baseDir: '/' });
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.problems.map((p) => `${p.path}: ${p.message}`);
  }
}

const paths = (schema: Schema<unknown>, raw: unknown): string[] => report(schema, raw).map((line) => line.split(': ')[0]!);

const item = object({ name: string(), port: integer(1, 65535), tags: withDefault(list(string()), []) });
const doc = object({
  title: string(),
  debug: withDefault(boolean(), false),
  mode: withDefault(oneOf(['a', 'b']), 'a'),
  limits: section({ maxBytes: withDefault(integer(1, 100), 10), note: optional(string()) }),
  items: list(item),
});

t.test('defaults fill at every depth; absent optional keys are left out; null counts as absent', async (t) => {
  const value = validate(doc, { title: 'x', items: [{ name: 'n', port: 1 }], limits: null }, { baseDir: '/' });
  t.same(value, { title: 'x', debug: false, mode: 'a', limits: { maxBytes: 10 }, items: [{ name: 'n', port: 1, tags: [] }] });
  t.notOk('note' in value.limits);
  t.same(validate(doc, { title: 'x', debug: true, mode: 'b', limits: { note: 'hi' }, items: [] }).limits, { maxBytes: 10, note: 'hi' });
});

t.test('every problem is reported at once, with paths into nested lists', async (t) => {
  const raw = {
    title: 5,
    debug: 'yes',
    mode: 'c',
    limits: { maxBytes: 0 },
    items: [{ name: 'ok', port: 80 }, { name: '', port: 0, tags: ['x', 7] }, 'str'],
  };
  t.same(report(doc, raw), [
    'title: must be a string',
    'debug: must be true or false',
    'mode: must be one of "a", "b"',
    'limits.maxBytes: must be an integer from 1 to 100',
    'items[1].name: must not be empty',
    'items[1].port: must be an integer from 1 to 65535',
    'items[1].tags[1]: must be a string',
    'items[2]: must be a mapping of keys to values',
  ]);
});

t.test('required keys, and the top level must be a mapping', async (t) => {
  t.same(report(doc, {}), ['title: required', 'items: required']);
  t.same(paths(doc, []), ['(top level)']);
  t.same(paths(doc, 'text'), ['(top level)']);
});

t.test('unknown keys are problems, with a suggestion when the key looks like a typo', async (t) => {
  const lines = report(doc, { title: 'x', items: [{ name: 'n', port: 1, prot: 2 }], limits: { maxBytse: 1, zzz: 1 }, extra: true });
  t.same(lines, [
    'extra: unknown key (expected title, debug, mode, limits, items)',
    'limits.maxBytse: unknown key; did you mean "maxBytes"?',
    'limits.zzz: unknown key (expected maxBytes, note)',
    'items[0].prot: unknown key; did you mean "port"?',
  ]);
});

t.test('integers are whole numbers within range', async (t) => {
  const n = object({ n: integer(0, 10) });
  for (const bad of [1.5, -1, 11, '5', true, Number.NaN, Number.POSITIVE_INFINITY]) t.same(paths(n, { n: bad }), ['n'], String(bad));
  for (const good of [0, 10]) t.same(validate(n, { n: good }), { n: good });
});

t.test('strings with a least length and a pattern', async (t) => {
  const s = object({ code: string({ minLength: 3, pattern: /^[a-z]+$/, hint: 'lower-case letters' }) });
  t.same(report(s, { code: 'ab' }), ['code: must be at least 3 characters']);
  t.same(report(s, { code: 'ABC' }), ['code: must be lower-case letters']);
  t.same(validate(s, { code: 'abc' }), { code: 'abc' });
});

t.test('a union takes the first alternative that fits, else explains', async (t) => {
  const tls = union([boolean(), object({ ca: string() })], 'false, true or {ca}');
  const u = object({ tls: withDefault(tls, false) });
  t.same(validate(u, {}), { tls: false });
  t.same(validate(u, { tls: true }), { tls: true });
  t.same(validate(u, { tls: { ca: 'x' } }), { tls: { ca: 'x' } });
  t.same(report(u, { tls: 'yes' }), ['tls: must be false, true or {ca}']);
  t.same(
    report(u, { tls: { ca: 1, cert: 'c' } }),
    ['tls.cert: unknown key (expected ca)', 'tls.ca: must be a string'],
    'a mapping reports its own fields',
  );
  const described = object({ v: union([integer(1, 2), oneOf(['x'])]) });
  t.same(report(described, { v: 3 }), ['v: must be an integer, or one of "x"']);
});

t.test('map converts and adds cross-field rules; key rules run even when values are bad', async (t) => {
  const range = map(object({ min: integer(0, 100), max: integer(0, 100) }), (r, at, ctx) =>
    r.max >= r.min ? r.max - r.min : fail(ctx, `${at}.max`, 'below min'),
  );
  t.equal(validate(object({ r: range }), { r: { min: 2, max: 5 } }).r, 3);
  t.same(report(object({ r: range }), { r: { min: 5, max: 2 } }), ['r.max: below min']);
  const pair = object({ a: optional(integer(0, 1)), b: optional(integer(0, 1)) }, (raw, problem) => {
    if (isSet(raw, 'a') && isSet(raw, 'b')) problem('b', 'not with a');
  });
  t.same(report(pair, { a: 5, b: 1 }), ['b: not with a', 'a: must be an integer from 0 to 1'], 'both reported; b not checked twice');
  t.same(validate(pair, { b: 1 }), { b: 1 });
});

t.test('validate throws a ConfigError naming the file', async (t) => {
  const err = t.throws(() => validate(doc, {}, { file: 'x.yaml', baseDir: '/' }), {
    code: 'PRX_ERR_CONFIG_INVALID',
    file: 'x.yaml',
  }) as ConfigError;
  t.equal(err.problems.length, 2);
});
