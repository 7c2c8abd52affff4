import t from 'tap';
import { LiveList } from '../../src/streams/live-list.js';

t.test('lists what was added, newest first, without what was deleted', async (t) => {
  const list = new LiveList<string>();
  const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((v) => list.add(v));
  t.equal(list.size, 4);
  t.same(list.list(), ['d', 'c', 'b', 'a']);
  list.delete(b!); // the middle
  t.same(list.list(), ['d', 'c', 'a']);
  list.delete(d!); // the head
  t.same(list.list(), ['c', 'a']);
  list.delete(a!); // the tail
  t.same(list.list(), ['c']);
  list.delete(a!);
  t.equal(list.size, 1, 'a second delete of the same entry does nothing');
  list.delete(c!);
  t.equal(list.size, 0);
  t.same(list.list(), []);
  list.add('e');
  t.same(list.list(), ['e'], 'usable again once empty');
});

t.test('the same value added twice has two entries', async (t) => {
  const list = new LiveList<number>();
  const first = list.add(1);
  list.add(1);
  list.delete(first);
  t.same(list.list(), [1]);
});

t.test('list() is a snapshot: deleting while going through it is safe', async (t) => {
  const list = new LiveList<number>();
  const entries = Array.from({ length: 10 }, (_, i) => list.add(i));
  const seen: number[] = [];
  for (const value of list.list()) {
    seen.push(value);
    list.delete(entries[value]!);
    list.delete(entries[9 - value]!); // one not visited yet
  }
  t.same(seen, [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
  t.equal(list.size, 0);
});
