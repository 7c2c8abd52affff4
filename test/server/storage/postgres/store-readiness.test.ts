import t from 'tap';
import { openPostgres } from '../../../../src/server/storage/postgres/postgres-pool.js';
import { storeReadiness } from '../../../../src/server/storage/postgres/store-readiness.js';
import { POSTGRES_SKIP, startPostgres } from '../../../fixtures/postgres.js';

const skip = POSTGRES_SKIP;

t.test('ready while SELECT 1 answers; answers are reused while fresh; then the reason, redacted', { skip }, async (t) => {
  const own = await startPostgres(t);
  const url = await own.createDatabase('readiness');
  const store = await openPostgres({ url, max: 2 });
  t.teardown(() => store.close());
  let clock = 1_000_000;
  const ready = storeReadiness(store, { freshMs: 1000, now: () => clock });
  let queries = 0;
  const query = store.pool.query.bind(store.pool);
  store.pool.query = ((...args: Parameters<typeof query>) => {
    queries++;
    return query(...args);
  }) as typeof store.pool.query;

  t.same(await Promise.all([ready(), ready(), ready()]), [undefined, undefined, undefined]);
  t.equal(queries, 1, 'three probes at once: one query');
  clock += 999;
  t.equal(await ready(), undefined);
  t.equal(queries, 1, 'fresh: no query');
  clock += 1;
  t.equal(await ready(), undefined);
  t.equal(queries, 2, 'stale: one more');

  await own.stop();
  clock += 1000;
  const reason = await ready();
  t.match(
    reason,
    `the shared store did not answer (PostgreSQL at postgres://postgres:***@127.0.0.1:${own.port}/readiness, store.postgres.url)`,
  );
  t.notMatch(reason!, own.password);
  clock += 500;
  t.equal(await ready(), reason, 'the failure is cached too');
  t.equal(queries, 3);
});
