import t from 'tap';
import { parseHostPort } from '../../../src/proto/http/host.js';

t.test('host[:port] parsed, lower-cased, IPv6 literals kept in brackets', async (t) => {
  const good: [string, string, number | undefined][] = [
    ['alpha.proxima.example', 'alpha.proxima.example', undefined],
    ['Alpha.Proxima.Example:8080', 'alpha.proxima.example', 8080],
    ['alpha.localhost.', 'alpha.localhost', undefined],
    ['ALPHA.localhost.:80', 'alpha.localhost', 80],
    ['localhost:11434', 'localhost', 11434],
    ['127.0.0.1:1', '127.0.0.1', 1],
    ['[::1]', '[::1]', undefined],
    ['[::1]:65535', '[::1]', 65535],
    ['[2001:DB8::a]:443', '[2001:db8::a]', 443],
    ['[::ffff:192.0.2.1]', '[::ffff:192.0.2.1]', undefined],
    ['under_score.example', 'under_score.example', undefined],
    ['x'.repeat(253), 'x'.repeat(253), undefined],
  ];
  for (const [value, hostname, port] of good) t.same(parseHostPort(value), { hostname, port }, value);
});

t.test('malformed hosts and ports: 400 PRX_ERR_HTTP_BAD_REQUEST', async (t) => {
  const bad = [
    '',
    ':80',
    'a:',
    'a:0',
    'a:65536',
    'a:+80',
    'a:8 0',
    'a:080a',
    'a:123456',
    'a b',
    'user@a',
    'a/b',
    'a?b',
    'a#b',
    'a..b',
    '.a',
    '.',
    'a,b',
    'a%20b',
    '::1',
    '[::1',
    '::1]',
    '[::1]x',
    '[::1]:',
    '[v1.x]',
    '[a]',
    '[::1]:99999',
    'caf\xe9',
    'x'.repeat(255),
    'a:80:80',
  ];
  for (const value of bad) t.throws(() => parseHostPort(value), { code: 'PRX_ERR_HTTP_BAD_REQUEST', status: 400 }, JSON.stringify(value));
});
