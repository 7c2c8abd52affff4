import t from 'tap';
import { fitAdvertise, modelAdverts } from '../../../src/client/ollama/model-adverts.js';
import { shareFilter } from '../../../src/client/ollama/model-share.js';
import { encodeMessage, MAX_MESSAGE_BYTES } from '../../../src/proto/control/codec.js';
import type { ModelAdvert, ServiceAdvert } from '../../../src/proto/control/messages.js';

const DIGEST = 'a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72';
const MODIFIED = '2025-05-04T17:37:44.706015396-07:00';
/** What an advert keeps of entry()'s details: all of them, in its own order. */
const DETAILS = {
  format: 'gguf',
  family: 'llama',
  families: ['llama'],
  parameter_size: '3.2B',
  quantization_level: 'Q4_K_M',
  parent_model: '',
};

/** An /api/tags entry as Ollama writes it. */
function entry(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name,
    model: name,
    modified_at: MODIFIED,
    size: 2019393189,
    digest: DIGEST,
    details: {
      parent_model: '',
      format: 'gguf',
      family: 'llama',
      families: ['llama'],
      parameter_size: '3.2B',
      quantization_level: 'Q4_K_M',
    },
    ...extra,
  };
}

t.test('share filters: "*" takes everything; a list matches as Ollama names match', async (t) => {
  t.ok(shareFilter('*')('anything:at-all'));
  const filter = shareFilter(['llama3.2', 'qwen2.5:0.5b']);
  t.same(['llama3.2:latest', 'Llama3.2', 'qwen2.5:0.5b', 'qwen2.5', 'qwen2.5:7b', 'all-minilm'].map(filter), [
    true,
    true,
    true,
    false,
    false,
    false,
  ]);
});

t.test('adverts carry name, digest, size, modified time and the routing details, sorted by name', async (t) => {
  const tags = {
    models: [entry('qwen2.5:0.5b', { capabilities: ['completion'], remote_host: 'x' }), entry('llama3.2:latest'), entry('secret:latest')],
  };
  const adverts = modelAdverts(tags, shareFilter(['llama3.2', 'qwen2.5:0.5b']));
  t.same(
    adverts.map((a) => a.name),
    ['llama3.2:latest', 'qwen2.5:0.5b'],
    'only shared models',
  );
  t.same(adverts[0], { name: 'llama3.2:latest', digest: DIGEST, size: 2019393189, modifiedAt: MODIFIED, details: DETAILS });
});

t.test('entries without a usable name or digest are skipped; a body of another shape is refused', async (t) => {
  const tags = {
    models: [entry('a'), { name: 'b' }, entry('c', { digest: 7 }), entry(''), 'x', null, entry('d', { details: 'no', size: 'big' })],
  };
  t.same(modelAdverts(tags, shareFilter('*')), [
    { name: 'a', digest: DIGEST, size: 2019393189, modifiedAt: MODIFIED, details: DETAILS },
    { name: 'd', digest: DIGEST, modifiedAt: MODIFIED },
  ]);
  for (const body of [null, [], { models: {} }, { tags: [] }, 'text']) {
    t.throws(() => modelAdverts(body, shareFilter('*')), { code: 'PRX_ERR_HTTP_BAD_RESPONSE' }, JSON.stringify(body));
  }
});

t.test('an advertisement always fits one control message: models are dropped from the longest list', async (t) => {
  const many = (prefix: string, n: number): ModelAdvert[] =>
    modelAdverts({ models: Array.from({ length: n }, (_, i) => entry(`${prefix}-${String(i).padStart(4, '0')}`)) }, () => true);
  const services: ServiceAdvert[] = [
    { name: 'web', kind: 'http' },
    { name: 'big', kind: 'ollama', models: many('big', 300), maxConcurrent: 2 },
    { name: 'small', kind: 'ollama', models: many('small', 5), maxConcurrent: 1 },
  ];
  const { services: fitted, dropped } = fitAdvertise(services);
  t.ok(dropped > 0);
  t.equal(fitted[1]!.models!.length, 300 - dropped, 'the longest list lost them');
  t.equal(fitted[2]!.models!.length, 5);
  t.same(fitted[1]!.models, services[1]!.models!.slice(0, 300 - dropped), 'the first ones stay');
  const bytes = encodeMessage({ type: 'advertise', services: fitted }).length - 4;
  t.ok(bytes <= MAX_MESSAGE_BYTES && bytes > MAX_MESSAGE_BYTES - 400, `${bytes} bytes: full, within the cap`);
  t.equal(services[1]!.models!.length, 300, 'the input is left as it was');
  t.same(fitAdvertise(services.slice(2)), { services: services.slice(2), dropped: 0 });
});
