/**
 * The ledger's costs: appends per second with group commit (many requests finishing at once, each
 * awaiting durability), and how fast a report reads and settles an epoch of records. Run:
 * `npm run bench:ledger` (RECORDS=200000 by default).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { RequestRecord } from '../src/server/ledger/ledger-record.js';
import { LedgerWriter } from '../src/server/ledger/ledger-writer.js';
import { computeRewards } from '../src/server/rewards/rewards-query.js';
import { DEFAULT_REWARD_RULES as rules } from '../src/server/rewards/rules.js';
import { ownedTempDir } from './children.js';

const RECORDS = Number(process.env.RECORDS ?? 200_000);
const IN_FLIGHT = 1000;
const T0 = Date.UTC(2025, 0, 1);

function record(i: number): RequestRecord {
  return {
    type: 'request',
    id: `bench-${i}`,
    time: new Date(T0 + (i % 86_400) * 1000).toISOString(),
    node: `node-${i % 50}`,
    model: 'llama3.2',
    digest: 'sha256:a80c4f17acd5',
    parameterSize: '3.2B',
    keyId: `key-${i % 300}`,
    keyOwner: [],
    route: '/v1/chat/completions',
    stream: true,
    outcome: 'ok',
    finishReason: 'stop',
    ttftMs: 200,
    durationMs: 2000,
    promptTokensReported: 30,
    completionTokensReported: 100,
    evalDurationNs: 1_700_000_000,
    completionTokensObserved: 100,
    contentChars: 400,
    promptChars: 100,
    maxTokensRequested: null,
    bytesIn: 300,
    bytesOut: 20_000,
    canary: null,
  };
}

const dataDir = ownedTempDir('proxima-bench-ledger-');
try {
  const writer = await LedgerWriter.open({ dataDir });
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < RECORDS) await writer.append(record(next++));
    }),
  );
  const appendMs = performance.now() - started;
  await writer.close();
  // The live file and the segments it rotated into.
  const bytes = fs.readdirSync(dataDir).reduce((sum, f) => sum + fs.statSync(path.join(dataDir, f)).size, 0);

  const readStart = performance.now();
  const rows = await computeRewards({ dataDir, rules, window: { fromMs: T0, toMs: T0 + 86_400_000 }, nowMs: T0 + 2 * 86_400_000 });
  const readMs = performance.now() - readStart;
  if (rows.reduce((n, r) => n + r.requests, 0) !== RECORDS) throw new Error('the report lost records');

  const perSecond = (n: number, ms: number): string => Math.round((n * 1000) / ms).toLocaleString('en');
  process.stdout.write(
    `ledger: ${RECORDS.toLocaleString('en')} records, ${(bytes / 2 ** 20).toFixed(1)} MiB (${Math.round(bytes / RECORDS)} bytes each)\n`,
  );
  process.stdout.write(`append (${IN_FLIGHT} in flight, default batches): ${perSecond(RECORDS, appendMs)} records/s\n`);
  process.stdout.write(
    `report (read, check, settle): ${perSecond(RECORDS, readMs)} records/s, ${(bytes / 2 ** 20 / (readMs / 1000)).toFixed(0)} MiB/s\n`,
  );
} finally {
  fs.rmSync(dataDir, { recursive: true, force: true });
}
