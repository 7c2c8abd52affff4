/** The two line formats: pretty for a person at a terminal, JSON for everything else. */
import t from 'tap';
import { ErrorCodes, ProximaError } from '../src/errors.js';
import { createLogger, escapeControl, type LogFormat } from '../src/log.js';

/** A stream that keeps what is written; `isTTY` as on process.stderr. */
function capture(isTTY?: boolean): { out: string[]; stream: { write: (s: string) => boolean; isTTY?: boolean } } {
  const out: string[] = [];
  const stream: { write: (s: string) => boolean; isTTY?: boolean } = {
    write: (s: string) => {
      out.push(s);
      return true;
    },
  };
  if (isTTY !== undefined) stream.isTTY = isTTY;
  return { out, stream };
}

const AT = new Date('2026-12-07T10:21:03.123Z');

function lineOf(format: LogFormat, isTTY: boolean | undefined, env: NodeJS.ProcessEnv, fields: Record<string, unknown>): string {
  const c = capture(isTTY);
  createLogger({ level: 'info', format, stream: c.stream, now: () => AT, env }).info('node online', fields);
  return c.out.join('');
}

t.test('pretty: time, padded level, message, then key=value', async (t) => {
  const line = lineOf('pretty', false, {}, { node: 'alpha', address: '203.0.113.7', services: 2, version: undefined });
  t.equal(line, '10:21:03.123 INFO  node online  node=alpha address=203.0.113.7 services=2\n');
  const c = capture(false);
  const log = createLogger({ level: 'debug', format: 'pretty', stream: c.stream, now: () => AT, env: {} });
  log.debug('d');
  log.warn('w');
  log.error('e', { err: new ProximaError(ErrorCodes.AUTH_FAILED, 'bad token', { cause: new Error('inner') }) });
  t.same(c.out, [
    '10:21:03.123 DEBUG d\n',
    '10:21:03.123 WARN  w\n',
    '10:21:03.123 ERROR e  err="PRX_ERR_AUTH_FAILED: bad token <- Error: inner"\n',
  ]);
});

t.test('pretty: spaces, quotes and = are quoted; objects and arrays are JSON', async (t) => {
  const line = lineOf(
    'pretty',
    false,
    {},
    { why: 'the node was revoked', q: 'a"b', eq: 'k=v', empty: '', list: ['web', 'ollama'], obj: { a: 1 } },
  );
  t.equal(
    line,
    '10:21:03.123 INFO  node online  why="the node was revoked" q="a\\"b" eq="k=v" empty="" list=["web","ollama"] obj={"a":1}\n',
  );
});

t.test('auto: pretty on a TTY, JSON when isTTY is false or absent', async (t) => {
  t.match(lineOf('auto', true, { NO_COLOR: '1' }, { node: 'alpha' }), /^10:21:03\.123 INFO {2}node online {2}node=alpha\n$/);
  for (const isTTY of [false, undefined]) {
    const line = lineOf('auto', isTTY, {}, { node: 'alpha' });
    t.same(JSON.parse(line), { time: AT.toISOString(), level: 'info', msg: 'node online', node: 'alpha' }, `isTTY ${isTTY}`);
  }
  t.same(JSON.parse(lineOf('json', true, {}, { node: 'alpha' })).node, 'alpha', 'json even on a TTY');
});

t.test('colours only on a TTY, and not when NO_COLOR is set', async (t) => {
  const coloured = lineOf('pretty', true, {}, { node: 'alpha' });
  t.equal(coloured, '10:21:03.123 \x1b[32mINFO \x1b[0m node online  \x1b[2mnode=\x1b[0malpha\n');
  t.notMatch(lineOf('pretty', true, { NO_COLOR: '1' }, { node: 'alpha' }), '\x1b', 'NO_COLOR=1');
  t.notMatch(lineOf('pretty', false, {}, { node: 'alpha' }), '\x1b', 'pretty into a file or a pipe');
  t.match(lineOf('pretty', true, { NO_COLOR: '' }, { node: 'alpha' }), '\x1b[32m', 'an empty NO_COLOR does not count (no-color.org)');
});

t.test('control characters in values, keys and messages are escaped: no forged lines, no terminal sequences', async (t) => {
  const evil = 'llama\n10:00:00.000 ERROR forged\x1b[2J\r\u202egnp.exe\\x1b';
  const c = capture(true);
  const log = createLogger({ level: 'info', format: 'pretty', stream: c.stream, now: () => AT, env: { NO_COLOR: '1' } });
  log.warn(`bad ${evil}`, { model: evil, [`k\n${evil}`]: 1, nested: { model: evil } });
  const line = c.out.join('');
  t.equal(line.split('\n').length, 2, 'one line');
  const raw = [...line.slice(0, -1)].filter((ch) => ch.charCodeAt(0) < 0x20 || ch === '\x7f' || ch === '\u202e');
  t.same(raw, [], 'no control character is written raw');
  t.match(line, 'model="llama\\n10:00:00.000 ERROR forged\\x1b[2J\\r\\u{202e}gnp.exe\\\\x1b"');
  t.match(line, 'nested={"model":"llama\\n10:00:00.000 ERROR forged\\u001b[2J\\r\\u{202e}gnp.exe\\\\x1b"}');
  t.equal(escapeControl('a\x85b\u2028c\x7f'), 'a\\x85b\\u{2028}c\\x7f', 'C1 controls, line separators, DEL');
  t.equal(escapeControl('llama3:8b-instruct'), 'llama3:8b-instruct', 'ordinary names are untouched');
});

t.test('secrets are redacted in pretty lines too, at any depth', async (t) => {
  const line = lineOf(
    'pretty',
    false,
    {},
    { token: 'prx_abc', admin: { token: 's3cret' }, headers: { authorization: 'Bearer x' }, key: 'prx-k' },
  );
  t.notMatch(line, /prx_abc|s3cret|Bearer x|prx-k/);
  t.match(line, 'token=[redacted] ');
  t.match(line, 'admin={"token":"[redacted]"}');
});

t.test('child loggers keep the format and add their bindings', async (t) => {
  const c = capture(false);
  const log = createLogger({ level: 'info', format: 'pretty', stream: c.stream, now: () => AT, env: {} }).child({ component: 'nodes' });
  log.child({ node: 'alpha' }).info('node offline', { reason: 'closed' });
  t.equal(c.out.join(''), '10:21:03.123 INFO  node offline  component=nodes node=alpha reason=closed\n');
});
