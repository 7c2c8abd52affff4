import t from 'tap';
import { ErrorCodes, ProximaError } from '../../../src/errors.js';
import { GroupCommit } from '../../../src/server/ledger/group-commit.js';

/** A committer whose commits are settled by the test, one at a time. */
function manual(maxBatchRecords: number) {
  const batches: number[][] = [];
  const pending: { resolve: () => void; reject: (err: Error) => void }[] = [];
  const observed: [number, boolean][] = [];
  let after = 0;
  const gc = new GroupCommit<number>({
    maxBatchRecords,
    commit: (batch) => {
      batches.push(batch);
      return new Promise((resolve, reject) => pending.push({ resolve, reject }));
    },
    afterBatch: async () => {
      after++;
    },
    onBatch: (records, _ms, ok) => observed.push([records, ok]),
  });
  return { gc, batches, pending, observed, afterCount: () => after };
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

t.test('one batch per turn, one in flight, the next starts when it is durable, at most maxBatchRecords', async (t) => {
  const m = manual(3);
  const settled: number[] = [];
  const pushes = [1, 2].map((n) => m.gc.push(n).then(() => settled.push(n)));
  t.same(m.batches, [], 'nothing before the end of the turn');
  await turn();
  t.same(m.batches, [[1, 2]], 'the two pushes of one turn are one batch');
  const later = [3, 4, 5, 6, 7].map((n) => m.gc.push(n).then(() => settled.push(n)));
  await turn();
  t.same(m.batches, [[1, 2]], 'no second batch while the first is in flight');
  m.pending.shift()!.resolve();
  await Promise.all(pushes);
  await turn();
  t.same(
    m.batches,
    [
      [1, 2],
      [3, 4, 5],
    ],
    'the waiting ones form the next batch at once, at most 3',
  );
  m.pending.shift()!.resolve();
  await turn();
  m.pending.shift()!.resolve();
  await Promise.all(later);
  t.same(settled, [1, 2, 3, 4, 5, 6, 7]);
  t.same(m.batches, [
    [1, 2],
    [3, 4, 5],
    [6, 7],
  ]);
  t.same(m.observed, [
    [2, true],
    [3, true],
    [2, true],
  ]);
  t.equal(m.afterCount(), 3, 'afterBatch after each committed batch');
});

t.test('a failed commit rejects its items only, with its error; the next batch goes on', async (t) => {
  const m = manual(10);
  const a = m.gc.push(1);
  await turn();
  const b = m.gc.push(2);
  m.pending.shift()!.reject(new ProximaError(ErrorCodes.STORE_IO, 'disk full'));
  await t.rejects(a, { code: ErrorCodes.STORE_IO });
  await turn();
  m.pending.shift()!.resolve();
  await b;
  t.same(m.observed, [
    [1, false],
    [1, true],
  ]);
  t.equal(m.afterCount(), 1, 'no afterBatch for a failed batch');
});

t.test('close commits what waits, then refuses; destroy fails what waits and awaits the batch in flight', async (t) => {
  const m = manual(1);
  const a = m.gc.push(1);
  const b = m.gc.push(2);
  await turn();
  const closed = m.gc.close();
  await t.rejects(m.gc.push(3), { code: ErrorCodes.SERVER_DRAINING });
  m.pending.shift()!.resolve();
  await a;
  await turn();
  m.pending.shift()!.resolve();
  await b;
  await closed;
  t.equal(m.gc.close(), m.gc.close(), 'idempotent');

  const d = manual(1);
  const c = d.gc.push(1);
  const e = d.gc.push(2);
  await turn();
  let destroyed = false;
  const destroying = d.gc.destroy().then(() => {
    destroyed = true;
  });
  await t.rejects(e, { code: ErrorCodes.SERVER_DRAINING }, 'the waiting one fails at once');
  await turn();
  t.notOk(destroyed, 'destroy waits for the batch in flight');
  d.pending.shift()!.resolve();
  await c;
  await destroying;
  t.equal(d.batches.length, 1);
});
