import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { readLedger, type SkippedLine } from '../../../src/server/ledger/ledger-reader.js';
import type { LedgerRecord } from '../../../src/server/ledger/ledger-record.js';
import { at, DAY_MS, probe, request, T0 } from '../../fixtures/ledger-records.js';

async function readAll(dataDir: string, maxLineBytes?: number): Promise<{ records: LedgerRecord[]; skipped: SkippedLine[] }> {
  const records: LedgerRecord[] = [];
  const skipped: SkippedLine[] = [];
  for await (const r of readLedger({ dataDir, maxLineBytes, onSkip: (s) => skipped.push(s) })) records.push(r);
  return { records, skipped };
}

const line = (r: object): string => JSON.stringify(r) + '\n';

t.test('no ledger yet, or an empty one, is no records', async (t) => {
  t.same(await readAll(path.join(t.testdir(), 'missing')), { records: [], skipped: [] });
  const dir = t.testdir({ 'ledger.ndjson': '' });
  t.same(await readAll(dir), { records: [], skipped: [] });
});

t.test('lines across block boundaries, in a file of several blocks, all come back in order', async (t) => {
  const records = Array.from({ length: 3000 }, (_, i) =>
    i % 7 === 0 ? probe({ latencyMs: i }) : request({ id: `r${i}`, route: `/v1/${'x'.repeat(i % 200)}` }),
  );
  const dir = t.testdir({ 'ledger.ndjson': records.map(line).join('') });
  t.ok(fs.statSync(path.join(dir, 'ledger.ndjson')).size > 3 * 256 * 1024, 'more than three read blocks');
  const got = await readAll(dir);
  t.same(got.skipped, []);
  t.same(got.records, records);
});

t.test('bad lines are skipped and reported with their byte offsets; the rest is read', async (t) => {
  const parts = [
    line(request({ id: 'a' })),
    '{"type":"request",\n',
    '\n',
    line({ ...request({ id: 'bad' }), outcome: 'crashed' }),
    `{"pad":"${'z'.repeat(5000)}"}\n`,
    line(request({ id: 'b' })),
    '{"type":"probe","no',
  ];
  const dir = t.testdir({ 'ledger.ndjson': parts.join('') });
  const offsets = parts.map((_, i) => Buffer.byteLength(parts.slice(0, i).join('')));
  const file = path.join(dir, 'ledger.ndjson');
  const got = await readAll(dir, 4096);
  t.same(
    got.records.map((r) => (r as { id: string }).id),
    ['a', 'b'],
  );
  t.same(
    got.skipped,
    [
      { file, offset: offsets[1], reason: 'not JSON' },
      { file, offset: offsets[3], reason: 'outcome must be one of ok, node_error, timeout, client_abort' },
      { file, offset: offsets[4], reason: 'line longer than 4096 bytes' },
      { file, offset: offsets[6], reason: 'incomplete last line (torn by a crash, or being written)' },
    ],
    'the empty line a failed write leaves is passed over silently',
  );
});

t.test('an overlong line that spans blocks is skipped whole', async (t) => {
  const long = `{"pad":"${'q'.repeat(600_000)}"}\n`;
  const dir = t.testdir({ 'ledger.ndjson': line(request({ id: 'a' })) + long + line(request({ id: 'b' })) });
  const got = await readAll(dir);
  t.same(
    got.records.map((r) => (r as { id: string }).id),
    ['a', 'b'],
  );
  t.match(got.skipped, [{ reason: 'line longer than 65536 bytes' }]);
});

t.test('segments are read oldest first, then the live file; a segment that is the live file is read once', async (t) => {
  const dir = t.testdir({
    'ledger.200.ndjson': line(request({ id: 's200' })),
    'ledger.100.ndjson': line(request({ id: 's100' })),
    'ledger.ndjson': line(request({ id: 'live' })),
    'ledger.notes.ndjson': line(request({ id: 'not-a-segment' })),
  });
  t.same(
    (await readAll(dir)).records.map((r) => (r as { id: string }).id),
    ['s100', 's200', 'live'],
  );
  // What a reader sees when the writer rotates after the reader opened the live file: the same file under both names.
  fs.linkSync(path.join(dir, 'ledger.ndjson'), path.join(dir, 'ledger.300.ndjson'));
  t.same(
    (await readAll(dir)).records.map((r) => (r as { id: string }).id),
    ['s100', 's200', 'live'],
  );
});

t.test('a time filter yields the records in [fromMs, toMs), e.g. one epoch', async (t) => {
  const dir = t.testdir({
    'ledger.ndjson': [
      request({ id: 'before', time: at(-1) }),
      request({ id: 'first', time: at(0) }),
      request({ id: 'last', time: at(DAY_MS - 1) }),
      request({ id: 'after', time: at(DAY_MS) }),
    ]
      .map(line)
      .join(''),
  });
  const ids: string[] = [];
  for await (const r of readLedger({ dataDir: dir, fromMs: T0, toMs: T0 + DAY_MS })) ids.push((r as { id: string }).id);
  t.same(ids, ['first', 'last']);
});
