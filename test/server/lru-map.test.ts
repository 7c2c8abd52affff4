import t from 'tap';
import { LruMap } from '../../src/server/lru-map.js';

t.test('holds at most max entries, dropping the least recently used', async (t) => {
  const lru = new LruMap<string, number>(3);
  lru.set('a', 1).set('b', 2).set('c', 3);
  t.equal(lru.get('a'), 1, 'a read makes a the most recent');
  lru.set('d', 4);
  t.same(
    [...lru.entries()],
    [
      ['c', 3],
      ['a', 1],
      ['d', 4],
    ],
    'b, the least recently used, went; the rest oldest first',
  );
  lru.set('c', 30);
  lru.set('e', 5);
  t.same(
    [...lru.entries()],
    [
      ['d', 4],
      ['c', 30],
      ['e', 5],
    ],
    'a write makes a key the most recent too',
  );
  t.equal(lru.size, 3);
});

t.test('peek and has leave recency alone; delete, clear, and undefined values', async (t) => {
  const lru = new LruMap<string, string>(2);
  lru.set('a', 'A').set('b', 'B');
  t.equal(lru.peek('a'), 'A');
  t.ok(lru.has('a'));
  lru.set('c', 'C');
  t.notOk(lru.has('a'), 'a was still the oldest: peek and has did not move it');
  t.equal(lru.get('a'), undefined);
  t.equal(lru.delete('b'), true);
  t.equal(lru.delete('b'), false);
  lru.set('c', undefined as unknown as string);
  t.equal(lru.size, 0, 'setting undefined deletes');
  lru.set('x', 'X');
  for (const [key] of lru.entries()) lru.delete(key);
  t.equal(lru.size, 0, 'deleting while iterating');
  lru.set('y', 'Y');
  lru.clear();
  t.equal(lru.size, 0);
});

t.test('max is a positive integer', async (t) => {
  for (const max of [0, -1, 1.5, Number.NaN]) t.throws(() => new LruMap(max), RangeError, String(max));
  t.equal(new LruMap(1).set('a', 1).set('b', 2).size, 1);
});
