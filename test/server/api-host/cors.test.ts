/**
 * `api.cors` in server.yaml, and CORS in front of a part of the API over real sockets: off by
 * default, `*`, a list compared without case. The model API's own behaviour with CORS (keys,
 * errors, streams, the admin parts) is in test/e2e/api/api-host-http.test.ts.
 */

import t, { type Test } from 'tap';
import type { ConfigError } from '../../../src/errors.js';
import type { HttpRequest } from '../../../src/http/exchange.js';
import { silentLogger } from '../../../src/log.js';
import { type ApiPart, createApiRouter } from '../../../src/server/api-host/api-router.js';
import { allowedRequestHeaders, type CorsConfig, withCors } from '../../../src/server/api-host/cors.js';
import { loadServerConfig, parseServerConfig } from '../../../src/server/config.js';
import { repoPath } from '../../fixtures/paths.js';
import { startTunnel } from '../../fixtures/stacks/tunnel.js';

const origins = (cors: unknown): CorsConfig['origins'] => parseServerConfig({ api: { cors } }).api.cors.origins;

t.test('api.cors.origins: off by default, "*", or a list of origins kept in lower case', async (t) => {
  t.same(parseServerConfig({}).api.cors, { origins: [] });
  t.same(origins({}), []);
  t.equal(origins({ origins: '*' }), '*');
  t.same(origins({ origins: ['https://Chat.Example.com', 'http://localhost:5173', 'http://[::1]:8080', 'app://x'] }), [
    'https://chat.example.com',
    'http://localhost:5173',
    'http://[::1]:8080',
    'app://x',
  ]);
});

t.test('a bad origin is refused, and the problem names its field', async (t) => {
  const err = t.throws(() => loadServerConfig(repoPath('test/fixtures/config/server/invalid/api-cors-bad.yaml'))) as ConfigError;
  t.same(
    err.problems.map((p) => p.path),
    [0, 1, 2, 3, 4].map((i) => `api.cors.origins[${i}]`),
  );
  t.match(err.problems[0]!.message, /scheme:\/\/host\[:port\]/);
  t.match(err.problems[2]!.message, /stands alone/);
  for (const bad of ['https://chat.example.com', 'any', true, { a: 1 }]) {
    const e = t.throws(() => origins({ origins: bad })) as ConfigError;
    t.same(
      e.problems.map((p) => [p.path, p.message]),
      [['api.cors.origins', "must be '*' or a list of origins"]],
      JSON.stringify(bad),
    );
  }
  const unknown = t.throws(() => origins({ origin: '*' })) as ConfigError;
  t.match(unknown.problems[0], { path: 'api.cors.origin', message: /did you mean "origins"/ });
});

t.test('the requested headers that are allowed, by name and by prefix', async (t) => {
  t.same(allowedRequestHeaders(undefined), []);
  t.same(allowedRequestHeaders('Authorization,Content-Type, X-Stainless-Lang ,anthropic-beta,OpenAI-Project,cookie,x-custom,'), [
    'authorization',
    'content-type',
    'x-stainless-lang',
    'anthropic-beta',
    'openai-project',
  ]);
});

/** A router whose only part is `part` behind CORS for /v1 and /api, behind a real listener. */
async function serve(t: Test, cors: CorsConfig) {
  const seen: string[] = [];
  const part: ApiPart = async (req: HttpRequest, res) => {
    if (!/^\/(v1|api)\//.test(req.url ?? '')) return false;
    seen.push(`${req.method} ${req.url}`);
    res.writeHead(req.url === '/v1/fail' ? 401 : 200, { 'x-request-id': 'r1' });
    res.end('answered');
    return true;
  };
  const api = createApiRouter({ parts: [withCors(part, cors, ['/v1', '/api'])], trustProxy: false, logger: silentLogger });
  const tunnel = await startTunnel(t, { api });
  return { seen, url: tunnel.url };
}

t.test('"*" answers any origin with "*"; the part never sees a preflight', async (t) => {
  const { seen, url } = await serve(t, { origins: '*' });
  const pre = await fetch(url('/v1/anything'), {
    method: 'OPTIONS',
    headers: { origin: 'https://a.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-api-key' },
  });
  t.same(
    [pre.status, pre.headers.get('access-control-allow-origin'), pre.headers.get('access-control-allow-headers')],
    [204, '*', 'x-api-key'],
  );
  const fail = await fetch(url('/v1/fail'), { headers: { origin: 'https://b.example' } });
  t.same([fail.status, fail.headers.get('access-control-allow-origin'), fail.headers.get('vary')], [401, '*', 'Origin']);
  const plain = await fetch(url('/api/tags'));
  t.equal(plain.headers.get('access-control-allow-origin'), null, 'no Origin, no CORS headers');
  const options = await fetch(url('/api/tags'), { method: 'OPTIONS', headers: { origin: 'https://a.example' } });
  t.equal(options.status, 200, 'an OPTIONS that is no preflight goes to the part');
  const outside = await fetch(url('/nodes'), { headers: { origin: 'https://a.example' } });
  t.equal(outside.status, 404);
  t.equal(outside.headers.get('access-control-allow-origin'), null, 'outside /v1 and /api: none');
  t.same(seen, ['GET /v1/fail', 'GET /api/tags', 'OPTIONS /api/tags']);
});

t.test('with CORS off the part is unwrapped: a preflight reaches it', async (t) => {
  const { seen, url } = await serve(t, { origins: [] });
  const pre = await fetch(url('/v1/x'), {
    method: 'OPTIONS',
    headers: { origin: 'https://a.example', 'access-control-request-method': 'POST' },
  });
  t.equal(pre.status, 200);
  t.equal(pre.headers.get('access-control-allow-origin'), null);
  t.equal(pre.headers.get('vary'), null);
  t.same(seen, ['OPTIONS /v1/x']);
});
