import t from 'tap';
import { IdTable } from '../../src/mux/id-table.js';

/** A small deterministic generator (mulberry32), so a failure can be replayed. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 2 ** 32;
  };
}

t.test('agrees with a Map over 50,000 random sets, gets and deletes', async (t) => {
  for (const capacity of [4, 64]) {
    const next = random(capacity);
    const table = new IdTable<string>(capacity);
    const model = new Map<number, string>();
    let disagreements = 0;
    for (let op = 0; op < 50_000; op++) {
      // Ids near each other and near 2^32, so runs collide, wrap the table's end and get shifted back.
      const id = next() < 0.9 ? 1 + Math.floor(next() * 300) : 0xffff_ffff - Math.floor(next() * 50);
      const r = next();
      if (r < 0.45) {
        table.set(id, `v${op}`);
        model.set(id, `v${op}`);
      } else if (r < 0.9) {
        if (table.delete(id) !== model.delete(id)) disagreements++;
      } else if (table.get(id) !== model.get(id) || table.has(id) !== model.has(id)) {
        disagreements++;
      }
      if (table.size !== model.size) disagreements++;
    }
    t.equal(disagreements, 0, `initial capacity ${capacity}: no op answered differently`);
    t.same(table.list().sort(), [...model.values()].sort(), `initial capacity ${capacity}: the same values at the end`);
    for (const [id, value] of model) if (table.get(id) !== value) disagreements++;
    t.equal(disagreements, 0, 'every id finds its value');
  }
});

t.test('grows past its first size and empties again', async (t) => {
  const table = new IdTable<number>(4);
  for (let id = 1; id <= 2001; id += 2) table.set(id, id * 10);
  t.equal(table.size, 1001);
  t.equal(table.get(1), 10);
  t.equal(table.get(2001), 20010);
  t.equal(table.get(2), undefined, 'an id never set');
  for (let id = 1; id <= 2001; id += 2) t.equal(table.delete(id), true, `deletes ${id}`);
  t.equal(table.size, 0);
  t.same(table.list(), []);
  t.equal(table.delete(1), false, 'a second delete finds nothing');
});

t.test('list() is a snapshot: deleting while going through it is safe', async (t) => {
  const table = new IdTable<number>();
  for (let id = 1; id <= 40; id++) table.set(id, id);
  const seen: number[] = [];
  for (const value of table.list()) {
    seen.push(value);
    table.delete(value);
    table.delete(41 - value);
  }
  t.equal(seen.length, 40, 'every value of the snapshot was visited');
  t.equal(table.size, 0);
  table.set(7, 70);
  table.clear();
  t.equal(table.size, 0);
  t.equal(table.get(7), undefined, 'clear empties it');
});

t.test('refuses what is not a stream id', async (t) => {
  const table = new IdTable<number>();
  for (const id of [0, -1, 2 ** 32, 1.5, Number.NaN]) t.throws(() => table.set(id, 1), RangeError, `refuses ${id}`);
  t.equal(table.size, 0);
});
