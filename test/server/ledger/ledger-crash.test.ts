import t from 'tap';
import { readLedger, type SkippedLine } from '../../../src/server/ledger/ledger-reader.js';
import { LedgerWriter } from '../../../src/server/ledger/ledger-writer.js';
import { request } from '../../fixtures/ledger-records.js';
import { runFixture, stopFixture } from '../../fixtures/processes/child-lines.js';

const ACKS_BEFORE_KILL = 400;

async function ids(dataDir: string, skipped: SkippedLine[]): Promise<string[]> {
  const out: string[] = [];
  for await (const r of readLedger({ dataDir, onSkip: (s) => skipped.push(s) })) out.push((r as { id: string }).id);
  return out;
}

t.test('SIGKILL in the middle of appending loses no acknowledged record; the ledger opens and reads after it', async (t) => {
  const dataDir = t.testdir();
  const acked: string[] = [];
  const appender = runFixture('ledger-appender.js', [dataDir, '5000', '64'], (line) => {
    if (line.startsWith('ack ')) acked.push(line.slice(4));
    if (acked.length === ACKS_BEFORE_KILL) appender.child.kill('SIGKILL');
  });
  t.teardown(() => stopFixture(appender));
  const { signal } = await appender.exited;
  t.equal(signal, 'SIGKILL', 'the appender was killed, not finished');
  t.ok(acked.length >= ACKS_BEFORE_KILL && acked.length < 5000, `${acked.length} acknowledged before the kill`);

  const skipped: SkippedLine[] = [];
  const found = await ids(dataDir, skipped);
  const present = new Set(found);
  t.same(
    acked.filter((id) => !present.has(id)),
    [],
    'every acknowledged record is in the file',
  );
  t.equal(present.size, found.length, 'no record twice');
  t.ok(skipped.length <= 1, 'at most the last line is torn');
  t.comment(`${acked.length} acked, ${found.length} in the file, ${skipped.length} torn`);

  const writer = await LedgerWriter.open({ dataDir });
  t.teardown(() => writer.destroy());
  await writer.append(request({ id: 'after-crash' }));
  const again = await ids(dataDir, []);
  t.same(again, [...found, 'after-crash'], 'the next record starts on a line of its own');
});
