import t from 'tap';
import { guardRoute, requestedModel } from '../../../src/client/ollama/ollama-routes.js';

t.test('the route table: reads, model routes, and nothing else', async (t) => {
  t.same(guardRoute('GET', '/api/tags'), { listing: 'native' });
  t.same(guardRoute('HEAD', '/v1/models'), { listing: 'openai' });
  t.same(guardRoute('GET', '/v1/models/qwen2.5:0.5b'), { modelInPath: 'qwen2.5:0.5b' });
  t.same(guardRoute('POST', '/api/embed'), { modelInBody: true });
  for (const [method, path] of [
    ['POST', '/api/tags'],
    ['GET', '/api/chat'],
    ['GET', '/v1/models/'],
    ['GET', '/v1/models/a/b'],
    ['GET', '/v1/models/a%3Ab'],
    ['GET', '/v1/models/.hidden'],
    ['GET', '/constructor'],
    ['GET', '/__proto__'],
    [undefined, '/'],
    ['PATCH', '/api/chat'],
  ] as const) {
    t.equal(guardRoute(method, path), undefined, `${method ?? '(none)'} ${path}`);
  }
});

t.test('the model a body asks for is the one Ollama would use', async (t) => {
  const ask = (path: string, body: unknown) => requestedModel(path, Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)));
  t.same(ask('/api/chat', { model: 'llama3.2', messages: [] }), { model: 'llama3.2' });
  t.same(ask('/api/chat', '{"model":"a","model":"b"}'), { model: 'b' }, 'the last of duplicates, as Go keeps it');
  t.same(ask('/api/chat', '{"\\u006dodel":"b"}'), { model: 'b' }, 'escaped key names are the same key');
  t.same(ask('/api/show', { name: 'b' }), { model: 'b' });
  t.same(ask('/api/show', { model: '', name: 'b' }), { model: 'b' }, 'an empty model defers to name');
  t.same(ask('/api/show', { model: 'a', name: 'b' }), { model: 'a' });
  t.same(ask('/api/chat', { name: 'b' }), { problem: 'model is required' }, 'name counts only on /api/show');
  t.same(ask('/api/chat', { model: 'a', Model: 'b' }), { problem: 'the field "Model" is ambiguous; send "model"' });
  t.same(ask('/api/show', { model: 'a', NAME: 'b' }), { problem: 'the field "NAME" is ambiguous; send "name"' });
  t.same(ask('/api/chat', { model: '' }), { problem: 'model is required' });
  t.same(ask('/api/chat', { model: ['a'] }), { problem: 'model is required' });
  t.same(ask('/api/chat', '["a"]'), { problem: 'the request body is not a JSON object' });
  t.same(ask('/api/chat', ''), { problem: 'the request body is not valid JSON' });
  t.same(ask('/api/chat', '\ufeff{"model":"a"}'), { problem: 'the request body is not valid JSON' });
});
