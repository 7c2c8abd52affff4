import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { createLogger } from '../../../src/log.js';
import { readLedger, type SkippedLine } from '../../../src/server/ledger/ledger-reader.js';
import type { LedgerRecord } from '../../../src/server/ledger/ledger-record.js';
import { LedgerWriter, type LedgerWriterOptions } from '../../../src/server/ledger/ledger-writer.js';
import { request } from '../../fixtures/ledger-records.js';
import { settle, trackTimers } from '../../fixtures/timers.js';

async function openWriter(t: Test, options: Partial<LedgerWriterOptions> & { dataDir: string }): Promise<LedgerWriter> {
  const writer = await LedgerWriter.open(options);
  t.teardown(() => writer.destroy());
  return writer;
}

async function readAll(dataDir: string, skipped: SkippedLine[] = []): Promise<LedgerRecord[]> {
  const out: LedgerRecord[] = [];
  for await (const record of readLedger({ dataDir, onSkip: (s) => skipped.push(s) })) out.push(record);
  return out;
}

const lines = (file: string): string[] => fs.readFileSync(file, 'utf8').split('\n');

/** A logger that keeps its lines as objects. */
function captureLog(): { logger: ReturnType<typeof createLogger>; lines: Record<string, unknown>[] } {
  const captured: Record<string, unknown>[] = [];
  const logger = createLogger({ level: 'debug', stream: { write: (line: string) => captured.push(JSON.parse(line)) > 0 } });
  return { logger, lines: captured };
}

t.test('an append resolves once its line is in the file; the file is created 0600', async (t) => {
  const dataDir = path.join(t.testdir(), 'data');
  const writer = await openWriter(t, { dataDir });
  const record = request({ id: 'r1' });
  await writer.append(record);
  t.equal(writer.file, path.join(dataDir, 'ledger.ndjson'));
  t.same(lines(writer.file), [JSON.stringify(record), '']);
  t.equal(fs.statSync(writer.file).mode & 0o777, 0o600);
  t.same(await readAll(dataDir), [record]);
});

t.test('group commit: the records of one turn go out together, at most maxBatchRecords a write, with no timer', async (t) => {
  const timers = trackTimers();
  t.teardown(() => timers.stop());
  const dataDir = t.testdir();
  const writer = await openWriter(t, { dataDir, maxBatchRecords: 2 });
  await settle();
  const baseline = timers.live();
  const ids = ['r1', 'r2', 'r3', 'r4', 'r5'];
  const appends = ids.map((id) => writer.append(request({ id })));
  t.equal(timers.live(), baseline + 1, 'one Immediate: the batch goes at the end of this turn, no Timeout');
  await appends[0];
  t.equal(lines(writer.file).length - 1, 2, 'the first record is durable with the second, in one write of two');
  await appends[2];
  t.equal(lines(writer.file).length - 1, 4, 'the next write took the next two');
  await Promise.all(appends);
  t.same(
    (await readAll(dataDir)).map((r) => (r as { id: string }).id),
    ids,
    'in order',
  );
});

t.test('records that arrive while a batch is written form the next batch, written the moment the first is done', async (t) => {
  const dataDir = t.testdir();
  const writer = await openWriter(t, { dataDir });
  const first = writer.append(request({ id: 'a' }));
  await new Promise((resolve) => setImmediate(resolve)); // the batch of [a] is under way
  const next = [writer.append(request({ id: 'b' })), writer.append(request({ id: 'c' }))];
  await first;
  t.same(lines(writer.file).length - 1, 1, 'a is durable; b and c wait for their own write');
  await next[0];
  t.same(lines(writer.file).length - 1, 3, 'b is durable with c, in one write');
  await next[1];
});

t.test('a lone record is written at once', async (t) => {
  const dataDir = t.testdir();
  const writer = await openWriter(t, { dataDir, maxBatchRecords: 1000 });
  await writer.append(request({ id: 'alone' }));
  t.equal((await readAll(dataDir)).length, 1);
});

t.test('close writes what waits, refuses more, leaves no timer; destroy fails what waits', async (t) => {
  const timers = trackTimers();
  t.teardown(() => timers.stop());
  const dataDir = t.testdir();
  const writer = await LedgerWriter.open({ dataDir });
  await settle();
  const baseline = timers.live();
  const waiting = [writer.append(request({ id: 'a' })), writer.append(request({ id: 'b' }))];
  t.equal(timers.live(), baseline + 1, 'the batch waits for the end of the turn while records wait');
  await Promise.all([writer.close(), writer.close()]);
  await Promise.all(waiting);
  t.equal((await readAll(dataDir)).length, 2, 'both written by close');
  await t.rejects(writer.append(request()), { code: 'PRX_ERR_SERVER_DRAINING' });
  await writer.destroy();
  await settle();
  t.equal(timers.live(), baseline, 'no timer left');

  const second = await LedgerWriter.open({ dataDir });
  const boom = new Error('stop now');
  const lost = t.rejects(second.append(request({ id: 'never' })), boom, 'a destroyed writer fails what waits with the given error');
  await second.destroy(boom);
  await lost;
  t.equal((await readAll(dataDir)).length, 2, 'and writes nothing more');
  await second.close();
});

t.test('a record that does not check is refused and never written', async (t) => {
  const dataDir = t.testdir();
  const writer = await openWriter(t, { dataDir });
  await t.rejects(writer.append({ ...request(), outcome: 'crashed' } as never), { code: 'PRX_ERR_LEDGER_RECORD_INVALID' });
  await writer.append(request());
  t.equal(lines(writer.file).length, 2);
});

t.test('a torn last line is reported with its offset on open, skipped on read, and the next append starts a fresh line', async (t) => {
  const dataDir = t.testdir();
  const file = path.join(dataDir, 'ledger.ndjson');
  const whole = [request({ id: 'w1' }), request({ id: 'w2' })].map((r) => JSON.stringify(r) + '\n').join('');
  const torn = JSON.stringify(request({ id: 'torn' })).slice(0, 57);
  fs.writeFileSync(file, whole + torn);
  const log = captureLog();
  const writer = await openWriter(t, { dataDir, logger: log.logger });
  const offset = Buffer.byteLength(whole);
  t.match(log.lines, [{ level: 'warn', msg: 'ledger: skipping a torn last line', file, offset, bytes: 57 }]);
  const after = request({ id: 'after' });
  await writer.append(after);
  t.same(lines(file).slice(2), [torn, JSON.stringify(after), ''], 'the torn bytes stay; the record follows on its own line');
  const skipped: SkippedLine[] = [];
  t.same(
    (await readAll(dataDir, skipped)).map((r) => (r as { id: string }).id),
    ['w1', 'w2', 'after'],
  );
  t.match(skipped, [{ file, offset, reason: 'not JSON' }]);

  const quiet = captureLog();
  const again = await LedgerWriter.open({ dataDir, logger: quiet.logger });
  await again.close();
  t.same(quiet.lines, [], 'a file that ends cleanly is not reported');
});

t.test('a torn line longer than a scan block is found whole', async (t) => {
  const dataDir = t.testdir();
  const file = path.join(dataDir, 'ledger.ndjson');
  const head = JSON.stringify(request()) + '\n';
  fs.writeFileSync(file, head + 'x'.repeat(200_000));
  const log = captureLog();
  await openWriter(t, { dataDir, logger: log.logger });
  t.match(log.lines, [{ msg: 'ledger: skipping a torn last line', offset: Buffer.byteLength(head), bytes: 200_000 }]);
  fs.writeFileSync(file, 'y'.repeat(70_000));
  const whole = captureLog();
  await openWriter(t, { dataDir, logger: whole.logger });
  t.match(whole.lines, [{ offset: 0, bytes: 70_000 }], 'a file that is one torn line');
});

t.test('past maxFileBytes the live file becomes a segment named for the clock; readers skip old segments', async (t) => {
  const dataDir = t.testdir();
  const clock = { nowMs: 1_000 };
  const writer = await openWriter(t, { dataDir, maxFileBytes: 1_000, maxBatchRecords: 1, now: () => clock.nowMs });
  const written: string[] = [];
  for (let i = 0; i < 12; i++) {
    clock.nowMs += 1_000;
    await writer.append(request({ id: `r${i}`, time: new Date(clock.nowMs).toISOString() }));
    written.push(`r${i}`);
  }
  const files = fs.readdirSync(dataDir).sort();
  const segments = files.filter((f) => /^ledger\.\d+\.ndjson$/.test(f));
  t.ok(segments.length >= 3, `rotated into ${segments.join(', ')}`);
  t.ok(files.includes('ledger.ndjson'));
  for (const s of segments) t.ok(fs.statSync(path.join(dataDir, s)).size >= 1_000, `${s} is full`);
  t.same(
    (await readAll(dataDir)).map((r) => (r as { id: string }).id),
    written,
    'every record, in order',
  );

  const firstUntil = Number(segments.map((s) => s.split('.')[1]).sort((a, b) => Number(a) - Number(b))[0]);
  const recent: string[] = [];
  const opened: string[] = [];
  for await (const r of readLedger({ dataDir, fromMs: firstUntil + 1, onSkip: () => undefined })) recent.push((r as { id: string }).id);
  t.ok(recent.length < written.length && recent.length > 0, 'records before fromMs are not read');
  t.same(recent, written.slice(written.length - recent.length), 'the newer records all are');
  // The first segment is not even opened: break it, and nothing is reported.
  const first = path.join(dataDir, `ledger.${firstUntil}.ndjson`);
  fs.appendFileSync(first, 'garbage\n');
  for await (const _ of readLedger({ dataDir, fromMs: firstUntil + 1, onSkip: (s) => opened.push(s.file) })) void _;
  t.same(opened, [], 'a segment closed before fromMs is skipped whole');
});

t.test(
  'a write that fails rejects its batch with PRX_ERR_STORE_IO and the cause',
  { skip: !fs.existsSync('/dev/full') && 'no /dev/full' },
  async (t) => {
    const dataDir = t.testdir();
    fs.symlinkSync('/dev/full', path.join(dataDir, 'ledger.ndjson'));
    const writer = await openWriter(t, { dataDir, logger: captureLog().logger });
    const both = [writer.append(request({ id: 'a' })), writer.append(request({ id: 'b' }))];
    for (const append of both) await t.rejects(append, { code: 'PRX_ERR_STORE_IO', cause: { code: 'ENOSPC' } });
    await t.rejects(writer.append(request()), { code: 'PRX_ERR_STORE_IO' }, 'and the next one, while the disk stays full');
  },
);

t.test('onBatch hears each batch (records, time, ok); a failed write sets problem until one succeeds', async (t) => {
  const dataDir = t.testdir();
  const batches: [number, number, boolean][] = [];
  const writer = await openWriter(t, { dataDir, onBatch: (records, ms, ok) => batches.push([records, ms, ok]) });
  t.equal(writer.problem, undefined);
  await Promise.all([writer.append(request({ id: 'r1' })), writer.append(request({ id: 'r2' }))]);
  await writer.append(request({ id: 'r3' }));
  t.same(
    batches.map(([records, , ok]) => [records, ok]),
    [
      [2, true],
      [1, true],
    ],
  );
  t.ok(
    batches.every(([, ms]) => ms >= 0 && ms < 10_000),
    'durations in milliseconds',
  );
  await writer.close();
  t.equal(writer.problem, 'the ledger is closed');
});

t.test(
  'a write that fails (the file is /dev/full: ENOSPC) is reported by problem and onBatch',
  { skip: !fs.existsSync('/dev/full') },
  async (t) => {
    const dataDir = t.testdir();
    fs.symlinkSync('/dev/full', path.join(dataDir, 'ledger.ndjson'));
    const batches: boolean[] = [];
    const writer = await openWriter(t, { dataDir, onBatch: (_records, _ms, ok) => batches.push(ok) });
    await t.rejects(writer.append(request({ id: 'r1' })), { code: 'PRX_ERR_STORE_IO' });
    t.equal(writer.problem, 'the last write failed (PRX_ERR_STORE_IO)');
    t.same(batches, [false]);
  },
);
