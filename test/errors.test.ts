import fs from 'node:fs';
import t from 'tap';
import { ConfigError, type ErrorCode, ErrorCodes, HTTP_STATUS, hasCode, ProximaError, withoutStack } from '../src/errors.js';
import { repoPath } from './fixtures/paths.js';

t.test('every error code is listed in the README error table, and nothing else is', async (t) => {
  const readme = fs.readFileSync(repoPath('README.md'), 'utf8');
  const documented = new Set([...readme.matchAll(/^\|\s*`(PRX_ERR_[A-Z_]+)`/gm)].map((m) => m[1]));
  const codes = new Set(Object.values(ErrorCodes));
  for (const code of codes) t.ok(documented.has(code), `${code} is documented`);
  for (const code of documented) t.ok(codes.has(code as never), `${code} in the README exists in src/errors.ts`);
  t.equal(new Set(Object.values(ErrorCodes)).size, Object.keys(ErrorCodes).length, 'codes are unique');
});

t.test('the README gives each code the status of HTTP_STATUS, and — for a code not answered over HTTP', async (t) => {
  const readme = fs.readFileSync(repoPath('README.md'), 'utf8');
  const rows = [...readme.matchAll(/^\|\s*`(PRX_ERR_[A-Z_]+)`\s*\|\s*([^|]+?)\s*\|/gm)];
  t.equal(rows.length, Object.keys(ErrorCodes).length, 'one row a code');
  for (const [, code, status] of rows) {
    const expected = HTTP_STATUS[code as ErrorCode];
    t.equal(status, expected === undefined ? '—' : String(expected), code);
  }
});

t.test('ProximaError keeps code, cause and subclass name', async (t) => {
  const cause = new Error('ECONNREFUSED');
  const err = new ProximaError(ErrorCodes.TARGET_UNREACHABLE, 'target refused', { cause });
  t.equal(err.code, 'PRX_ERR_TARGET_UNREACHABLE');
  t.equal(err.cause, cause);
  t.equal(err.name, 'ProximaError');
  t.ok(hasCode(err, ErrorCodes.TARGET_UNREACHABLE));
  t.notOk(hasCode(new Error('x'), ErrorCodes.TARGET_UNREACHABLE));
  const cfg = new ConfigError(
    [
      { path: 'control.listen', message: 'must be host:port' },
      { path: 'domain', message: 'required' },
    ],
    'server.yaml',
  );
  t.equal(cfg.name, 'ConfigError');
  t.equal(cfg.code, 'PRX_ERR_CONFIG_INVALID');
  t.match(cfg.message, /server\.yaml is invalid:\n {2}control\.listen: must be host:port\n {2}domain: required/);
  t.ok(cfg instanceof ProximaError);
});

t.test('withoutStack builds an error with no stack frames and restores the limit, even when building throws', async (t) => {
  const limit = Error.stackTraceLimit;
  const bare = withoutStack(() => new ProximaError(ErrorCodes.MUX_STREAM_RESET, 'stream 3 was reset by the peer'));
  t.equal(bare.code, 'PRX_ERR_MUX_STREAM_RESET');
  t.equal(bare.stack, 'ProximaError: stream 3 was reset by the peer');
  t.equal(Error.stackTraceLimit, limit);
  t.throws(
    () =>
      withoutStack(() => {
        throw new Error('building failed');
      }),
    { message: 'building failed' },
  );
  t.equal(Error.stackTraceLimit, limit, 'restored after a throw');
  t.match(new ProximaError(ErrorCodes.MUX_STREAM_RESET, 'ours').stack, /\n {4}at /, 'other errors keep their frames');
});
