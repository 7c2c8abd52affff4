import path from 'node:path';
import t from 'tap';
import { object, type Schema, validate } from '../../src/config/schema.js';
import { duration, folderPath, hostname, hostPort, listenAddress, parseHostPort, readableFile } from '../../src/config/values.js';
import { ConfigError } from '../../src/errors.js';

/** The value `schema` makes of `raw` under key `v`, or the problem message it reports. */
function check(schema: Schema<unknown>, raw: unknown, baseDir = '/'): unknown {
  try {
    return validate(object({ v: schema }), { v: raw }, { baseDir }).v;
  } catch (err) {
    if (err instanceof ConfigError) return `problem: ${err.problems[0]!.message}`;
    throw err;
  }
}

t.test('host:port', async (t) => {
  t.same(parseHostPort('127.0.0.1:11434', 1), { host: '127.0.0.1', port: 11434 });
  t.same(parseHostPort('Proxima.Example.com:7000', 1), { host: 'proxima.example.com', port: 7000 });
  t.same(parseHostPort('[::1]:80', 1), { host: '::1', port: 80 });
  t.same(parseHostPort(':7000', 0, '0.0.0.0'), { host: '0.0.0.0', port: 7000 });
  for (const bad of [
    'localhost',
    ':7000',
    'h:0',
    'h:65536',
    'h:-1',
    '1.2.3:80',
    '256.1.1.1:80',
    '[zz]:80',
    '::1:80',
    'a b:80',
    'h:80 ',
    '-a:80',
    'h:8o',
  ]) {
    t.equal(parseHostPort(bad, 1), undefined, bad);
  }
  t.equal(check(hostPort('127.0.0.1:11434'), 'nope'), 'problem: must be host:port, e.g. 127.0.0.1:11434');
  t.equal(check(hostPort('h:1'), 11434), 'problem: must be host:port, e.g. h:1', 'a number is not host:port');
});

t.test('listen addresses: host:port, :port, a bare port (number or string), port 0', async (t) => {
  const listen = listenAddress('0.0.0.0:7000');
  t.same(check(listen, '127.0.0.1:7000'), { host: '127.0.0.1', port: 7000 });
  t.same(check(listen, ':7000'), { host: '0.0.0.0', port: 7000 });
  t.same(check(listen, 7000), { host: '0.0.0.0', port: 7000 });
  t.same(check(listen, '7000'), { host: '0.0.0.0', port: 7000 });
  t.same(check(listen, 0), { host: '0.0.0.0', port: 0 });
  t.same(check(listen, '[::]:80'), { host: '::', port: 80 });
  for (const bad of [70000, -1, 1.5, 'localhost', true, '0.0.0.0:', '']) {
    t.equal(check(listen, bad), 'problem: must be host:port, :port or a port, e.g. 0.0.0.0:7000', String(bad));
  }
});

t.test('hostnames are lower-cased; IP addresses and bad labels refused', async (t) => {
  t.equal(check(hostname(), 'Proxima.Example.COM'), 'proxima.example.com');
  t.equal(check(hostname(), 'localhost'), 'localhost');
  for (const bad of ['-a.com', 'a_b.com', 'a..b', 'a.', `${'x'.repeat(64)}.com`, '', 5])
    t.match(check(hostname(), bad), /^problem: must be a hostname/, String(bad));
  t.equal(check(hostname(), '10.0.0.1'), 'problem: must be a hostname, not an IP address');
});

t.test('durations: integer milliseconds or a number with a unit, within range', async (t) => {
  const d = duration(0, 3_600_000);
  const cases: [unknown, number][] = [
    [0, 0],
    [1500, 1500],
    ['250ms', 250],
    ['15s', 15_000],
    ['2m', 120_000],
    ['1h', 3_600_000],
    [' 3 s ', 3000],
  ];
  for (const [raw, ms] of cases) t.equal(check(d, raw), ms, JSON.stringify(raw));
  for (const bad of [-1, 1.5, '1.5s', '2h', '10 seconds', 's', true, ''])
    t.match(check(d, bad), /^problem: must be a duration from 0 to 3600000 ms/, JSON.stringify(bad));
});

t.test('paths are relative to the config file folder; readable files are checked now', async (t) => {
  const dir = t.testdir({ 'a.pem': 'x', sub: {} });
  t.equal(check(folderPath(), './data', dir), path.join(dir, 'data'));
  t.equal(check(folderPath(), '/var/lib/proxima', dir), '/var/lib/proxima');
  t.equal(check(readableFile(), 'a.pem', dir), path.join(dir, 'a.pem'));
  t.equal(check(readableFile(), 'b.pem', dir), `problem: file not found: ${path.join(dir, 'b.pem')}`);
  t.equal(check(readableFile(), 'sub', dir), `problem: not a file: ${path.join(dir, 'sub')}`);
  t.equal(check(readableFile(), '', dir), 'problem: must be a file path');
});
