import t from 'tap';
import { ErrorCodes, ProximaError } from '../src/errors.js';
import { createLogger, redact } from '../src/log.js';

function capture(): { lines: () => Record<string, unknown>[]; stream: { write: (s: string) => boolean } } {
  const out: string[] = [];
  return {
    lines: () => out.map((l) => JSON.parse(l)),
    stream: {
      write: (s: string) => {
        out.push(s);
        return true;
      },
    },
  };
}

t.test('writes one JSON object per line with level, message and bindings', async (t) => {
  const c = capture();
  const log = createLogger({ level: 'info', stream: c.stream, now: () => new Date(0) }).child({ node: 'alpha' });
  log.debug('hidden');
  log.info('online', { services: 2 });
  log.error('failed', { err: new ProximaError(ErrorCodes.AUTH_FAILED, 'bad token') });
  t.same(c.lines(), [
    { time: '1970-01-01T00:00:00.000Z', level: 'info', msg: 'online', node: 'alpha', services: 2 },
    {
      time: '1970-01-01T00:00:00.000Z',
      level: 'error',
      msg: 'failed',
      node: 'alpha',
      err: { name: 'ProximaError', message: 'bad token', code: 'PRX_ERR_AUTH_FAILED' },
    },
  ]);
});

t.test('secrets are redacted at any depth', async (t) => {
  const c = capture();
  const log = createLogger({ level: 'debug', stream: c.stream });
  log.info('config', { token: 'prx_abc', admin: { token: 's3cret' }, headers: { authorization: 'Bearer x', host: 'a' }, apiKey: 'k' });
  const line = JSON.stringify(c.lines()[0]);
  t.notMatch(line, /prx_abc|s3cret|Bearer x|"k"/);
  t.match(line, /"host":"a"/);
  t.same(redact({ key: 'k', keyId: 'id1' }), { key: '[redacted]', keyId: 'id1' });
});

t.test('silent level writes nothing', async (t) => {
  const c = capture();
  createLogger({ level: 'silent', stream: c.stream }).error('x');
  t.same(c.lines(), []);
});

t.test('a child adds to its parent bindings, a line overrides both, and time, level, msg come first', async (t) => {
  const c = capture();
  const root = createLogger({ level: 'info', stream: c.stream, now: () => new Date(0), bindings: { node: 'alpha', service: 'web' } });
  const child = root.child({ service: 'ollama', stream: 7 });
  child.info('one', { stream: 8 });
  root.info('two');
  const raw = c.lines().map((l) => JSON.stringify(l));
  t.same(
    raw,
    [
      '{"time":"1970-01-01T00:00:00.000Z","level":"info","msg":"one","node":"alpha","service":"ollama","stream":8}',
      '{"time":"1970-01-01T00:00:00.000Z","level":"info","msg":"two","node":"alpha","service":"web"}',
    ],
    'the parent keeps its own bindings',
  );
});

t.test('plain lines: fields as given, written together once per turn of the loop, and before any other line', async (t) => {
  const writes: string[] = [];
  const root = createLogger({ level: 'info', stream: { write: (text: string) => writes.push(text) > 0 }, now: () => new Date(0) });
  const access = root.child({ component: 'access' });
  access.infoPlain('request', { status: 200, host: 'a"b' });
  access.infoPlain('request', { status: 404 });
  t.same(writes, [], 'nothing written yet');
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(writes.length, 1, 'one write for both');
  t.same(
    writes[0]!
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l)),
    [
      { time: '1970-01-01T00:00:00.000Z', level: 'info', msg: 'request', component: 'access', status: 200, host: 'a"b' },
      { time: '1970-01-01T00:00:00.000Z', level: 'info', msg: 'request', component: 'access', status: 404 },
    ],
  );
  access.infoPlain('request', { status: 500 });
  root.warn('after');
  t.equal(writes.length, 3, 'a warning writes the waiting plain line first');
  t.match(writes[1], /"status":500/);
  t.match(writes[2], /"msg":"after"/);
  const quiet: string[] = [];
  createLogger({ level: 'warn', stream: { write: (text: string) => quiet.push(text) > 0 } }).infoPlain('request', { status: 200 });
  await new Promise((resolve) => setImmediate(resolve));
  t.same(quiet, [], 'below info: nothing');
});
