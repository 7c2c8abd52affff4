import t from 'tap';
import { LazyLru } from '../../src/server/lazy-lru.js';

t.test('reads answer as an empty table until the first write; then it is lru-cache, bounded', async (t) => {
  const table = new LazyLru<string, number>({ max: 2 });
  t.equal(table.size, 0);
  t.equal(table.get('a'), undefined);
  t.equal(table.peek('a'), undefined);
  t.equal(table.has('a'), false);
  t.equal(table.delete('a'), false);
  t.same([...table.entries()], []);
  table.clear();
  table.set('a', 1).set('b', 2);
  t.equal(table.get('a'), 1, 'a is now the most recent');
  table.set('c', 3);
  t.same(
    [...table.entries()],
    [
      ['c', 3],
      ['a', 1],
    ],
    'b, least recently used, dropped',
  );
  t.equal(table.peek('a'), 1);
  t.ok(table.delete('a'));
  t.equal(table.size, 1);
  table.clear();
  t.equal(table.size, 0);
});

t.test('a ttl given per entry applies', async (t) => {
  let now = 1_000;
  const table = new LazyLru<string, boolean>({ max: 10, ttl: 100, ttlAutopurge: false, perf: { now: () => now } });
  table.set('short', true, { ttl: 10 });
  table.set('long', true);
  now += 50;
  t.equal(table.get('short'), undefined, 'gone after its own ttl');
  t.equal(table.get('long'), true, 'the table ttl still running');
});
