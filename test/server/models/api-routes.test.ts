import t from 'tap';
import { isInference, matchRoute } from '../../../src/server/models/api-routes.js';

t.test('routes: /v1 and /api are ours; management is 403, unknown 404, wrong method 405', async (t) => {
  t.equal(matchRoute('GET', '/nodes'), undefined);
  t.equal(matchRoute('GET', '/v10/models'), undefined);
  t.match(matchRoute('POST', '/v1/chat/completions'), { route: { surface: 'openai', kind: 'chat' } });
  t.match(matchRoute('HEAD', '/api/tags'), { route: { surface: 'ollama', kind: 'tags' } });
  t.match(matchRoute('GET', '/v1/models/hf.co%2Fme%2Fm:q4'), { route: { kind: 'model', path: '/v1/models/{id}' }, id: 'hf.co/me/m:q4' });
  for (const path of ['/api/pull', '/api/push', '/api/create', '/api/copy', '/api/delete', '/api/blobs/sha256:1']) {
    t.match(matchRoute('POST', path), { surface: 'ollama', error: { code: 'PRX_ERR_FORBIDDEN' } }, path);
  }
  t.match(matchRoute('GET', '/api/ps'), { error: { code: 'PRX_ERR_HTTP_NOT_FOUND' } });
  t.match(matchRoute('GET', '/v1/chat/completions'), {
    surface: 'openai',
    allow: 'POST',
    error: { code: 'PRX_ERR_HTTP_METHOD_NOT_ALLOWED' },
  });
  t.match(matchRoute('POST', '/api/tags'), { allow: 'GET, HEAD' });
  t.match(matchRoute('POST', '/v1/responses'), { route: { surface: 'openai', kind: 'responses', path: '/v1/responses' } });
  t.match(matchRoute('POST', '/v1/messages'), { route: { surface: 'anthropic', kind: 'messages', path: '/v1/messages' } });
  t.match(matchRoute('GET', '/v1/messages'), { surface: 'anthropic', allow: 'POST', error: { code: 'PRX_ERR_HTTP_METHOD_NOT_ALLOWED' } });
  t.same(
    ['chat', 'completion', 'generate', 'embedding', 'responses', 'messages', 'show', 'models'].map((k) => isInference(k as never)),
    [true, true, true, true, true, true, false, false],
  );
});
