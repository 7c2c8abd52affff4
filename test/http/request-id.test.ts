import t from 'tap';
import { newRequestId, requestIdOf } from '../../src/http/request-id.js';

t.test('new ids look like OpenAI request ids, and none repeats across many draws of the random pool', async (t) => {
  const ids = Array.from({ length: 2000 }, () => newRequestId()); // about eight draws of 256
  const malformed = ids.filter((id) => !/^req_[0-9a-f]{32}$/.test(id) || requestIdOf(id) !== id);
  t.same(malformed, [], 'req_ and 32 hex characters, and taken back as ours');
  t.equal(new Set(ids).size, ids.length, 'all distinct');
  // Each hex digit appears about as often as the others: the bytes are random, not a counter.
  const counts = new Map<string, number>();
  for (const id of ids) for (const c of id.slice(4)) counts.set(c, (counts.get(c) ?? 0) + 1);
  const expected = (ids.length * 32) / 16;
  t.equal(counts.size, 16);
  t.ok(
    [...counts.values()].every((n) => Math.abs(n - expected) < expected * 0.1),
    `each digit within 10% of ${expected}: ${[...counts.values()].join(', ')}`,
  );
});

t.test('ids that are not ours are not taken', async (t) => {
  for (const v of [undefined, ['req_0123456789abcdef0123456789abcdef'], 'req_0123', 'req_0123456789ABCDEF0123456789ABCDEF', 'x'])
    t.equal(requestIdOf(v), undefined, JSON.stringify(v));
});
