/**
 * The ledger's readers' view of proxima_ledger: the records of a time range in the order written
 * (by `seq`), streamed a page at a time by keyset pagination, never all rows in memory. The range's
 * first and last `seq` come from one query on the time index; each page then walks the seq index
 * from where the last one stopped (`seq > last AND seq <= max`), so a page costs its own rows
 * however deep into the table it is, and rows written after the reading began are not read.
 */
import type { PostgresStore } from '../storage/postgres/postgres-pool.js';
import type { LedgerQuery, LedgerSource } from './ledger.js';
import type { LedgerRecord } from './ledger-record.js';

/** Rows a page fetches by default. */
export const DEFAULT_PAGE_ROWS = 2000;

/** The records of proxima_ledger as a {@link LedgerSource}. */
export function postgresLedgerSource(store: PostgresStore, pageRows = DEFAULT_PAGE_ROWS): LedgerSource {
  return {
    where: store.redactedUrl,
    read: (query) => readPostgresLedger(store, query, pageRows),
  };
}

async function* readPostgresLedger(store: PostgresStore, query: LedgerQuery, pageRows: number): AsyncGenerator<LedgerRecord> {
  const from = Number.isFinite(query.fromMs) ? new Date(query.fromMs!).toISOString() : null;
  const to = Number.isFinite(query.toMs) ? new Date(query.toMs!).toISOString() : null;
  const range = `($1::timestamptz IS NULL OR time >= $1) AND ($2::timestamptz IS NULL OR time < $2)`;
  let bounds: { min: string | null; max: string | null };
  try {
    const { rows } = await store.pool.query<{ min: string | null; max: string | null }>(
      `SELECT min(seq)::text AS min, max(seq)::text AS max FROM proxima_ledger WHERE ${range}`,
      [from, to],
    );
    bounds = rows[0]!;
  } catch (err) {
    throw store.failure('cannot read the ledger', err);
  }
  if (bounds.min === null || bounds.max === null) return;
  let last = (BigInt(bounds.min) - 1n).toString();
  for (;;) {
    let rows: { at: string; record: LedgerRecord }[];
    try {
      ({ rows } = await store.pool.query<{ at: string; record: LedgerRecord }>({
        name: 'proxima-ledger-page',
        text: `SELECT seq::text AS at, record FROM proxima_ledger
               WHERE seq > $3::bigint AND seq <= $4::bigint AND ${range} ORDER BY seq LIMIT $5`,
        values: [from, to, last, bounds.max, pageRows],
      }));
    } catch (err) {
      throw store.failure('cannot read the ledger', err);
    }
    for (const row of rows) yield row.record;
    if (rows.length < pageRows) return;
    last = rows[rows.length - 1]!.at; // `at`, not `seq`: ORDER BY would sort a text alias named seq as text
  }
}
