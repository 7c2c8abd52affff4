import { once } from 'node:events';
import t from 'tap';
import { silentLogger } from '../../../src/log.js';
import { openSharedStore } from '../../../src/server/storage/postgres/shared-store.js';
import { memoryCanaryPasses, openPostgresCanaryPasses } from '../../../src/server/verify/canary-passes.js';
import { POSTGRES_SKIP, startPostgres, type TestPostgres } from '../../fixtures/postgres.js';
import { within } from '../../fixtures/store-helpers.js';

const skip = POSTGRES_SKIP;
const cluster: TestPostgres | undefined = skip === false ? await startPostgres(t) : undefined;

t.test('in memory: counted from zero, per node', async (t) => {
  const passes = memoryCanaryPasses();
  passes.passed('a');
  passes.passed('a');
  t.equal(passes.get('a'), 2);
  t.equal(passes.get('b'), 0);
  await passes.close();
});

t.test('in PostgreSQL: counted at once, stored, seen by the other instance, kept across a restart', { skip }, async (t) => {
  const url = await cluster!.createDatabase('canary_passes');
  const a = await openSharedStore(url, { logger: silentLogger, instance: 'i-a' });
  const b = await openSharedStore(url, { logger: silentLogger, instance: 'i-b' });
  t.teardown(() => Promise.all([a.close(), b.close()]));
  const atA = await openPostgresCanaryPasses(a, silentLogger);
  const atB = await openPostgresCanaryPasses(b, silentLogger);
  const heard = within(
    (async () => {
      while (atB.get('gpu-1') < 3) await once(b.notifier, 'change');
    })(),
    5_000,
    'passes at B',
  );
  for (let i = 0; i < 3; i++) atA.passed('gpu-1');
  t.equal(atA.get('gpu-1'), 3, 'at once where it passed');
  await heard;
  t.equal(atB.get('gpu-1'), 3, 'the other instance, from the notices');
  atB.passed('gpu-1');
  t.equal(atB.get('gpu-1'), 4);
  await atA.close();
  await atB.close();
  const { rows } = await a.store.pool.query('SELECT node, passed::int FROM proxima_canary_passes');
  t.same(rows, [{ node: 'gpu-1', passed: 4 }], 'one row, four passes');

  // A restart: a new instance reads the counts back.
  const c = await openSharedStore(url, { logger: silentLogger, instance: 'i-c' });
  t.teardown(() => c.close());
  const atC = await openPostgresCanaryPasses(c, silentLogger);
  t.teardown(() => atC.close());
  t.equal(atC.get('gpu-1'), 4, 'survives the restart');
  t.equal(atC.get('other'), 0);
});
