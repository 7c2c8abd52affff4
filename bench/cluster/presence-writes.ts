/**
 * PostgreSQL writes per second at idle with presence on PostgreSQL (issue 20): two instances on one
 * throwaway PostgreSQL cluster, instance A holding NODES simulated sessions (their rows written as a
 * connect would), instance B holding none; both renew their leases and follow each other's presence
 * as a super node does; every node is "seen" (a heartbeat) every HEARTBEAT_MS, spread evenly. Over
 * DURATION_MS of that idle time it counts, on the database side: write transactions (the advance of
 * the transaction id counter, pg_current_xact_id, which only writing transactions move), and
 * pg_stat_database's xact_commit (reads included) and tup_inserted + tup_updated + tup_deleted.
 * Run: `npm run build && node dist/bench/cluster/presence-writes.js` (NODES=1000,10000 DURATION_MS=30000).
 */
import type { Test } from 'tap';
import { silentLogger } from '../../src/log.js';
import { PostgresPresenceStore } from '../../src/server/presence/postgres-presence-store.js';
import type { NodePresence } from '../../src/server/presence/presence-store.js';
import { PgRemotePresence } from '../../src/server/presence/remote-presence.js';
import { openSharedStore, type SharedStore } from '../../src/server/storage/postgres/shared-store.js';
import { findPostgresBin, startPostgres } from '../../test/fixtures/postgres.js';

const COUNTS = (process.env.NODES ?? '1000,10000').split(',').map(Number);
const DURATION_MS = Number(process.env.DURATION_MS ?? 30_000);
const HEARTBEAT_MS = Number(process.env.HEARTBEAT_MS ?? 15_000);
const LEASE = { leaseIntervalMs: 5_000, leaseExpiryMs: 10_000 };

const ADVERTS = [
  {
    name: 'llm',
    kind: 'ollama' as const,
    maxConcurrent: 2,
    models: [
      { name: 'llama3.2:latest', digest: 'sha256:a80c4f17acd5' },
      { name: 'qwen2.5:7b', digest: 'sha256:845dbda0ea48' },
    ],
    expose: 'network' as const,
  },
];

interface Counters {
  xid: bigint;
  commits: number;
  tuples: number;
}

async function counters(shared: SharedStore): Promise<Counters> {
  const pool = shared.store.pool;
  await pool.query('SELECT pg_stat_force_next_flush()');
  const { rows } = await pool.query<{ xid: string; commits: string; tuples: string }>(
    `SELECT pg_current_xact_id()::text AS xid, xact_commit::text AS commits, (tup_inserted + tup_updated + tup_deleted)::text AS tuples
       FROM pg_stat_database WHERE datname = current_database()`,
  );
  const r = rows[0]!;
  return { xid: BigInt(r.xid), commits: Number(r.commits), tuples: Number(r.tuples) };
}

async function instance(url: string, id: string) {
  const shared = await openSharedStore(url, { logger: silentLogger, instance: id });
  const { store, notifier } = shared;
  const presence = await PostgresPresenceStore.open({ store, notifier, instance: id, peer: `${id}:7443`, ...LEASE });
  const remote = await PgRemotePresence.open({ store, notifier, instance: id, leaseIntervalMs: LEASE.leaseIntervalMs });
  return {
    shared,
    presence,
    remote,
    async close() {
      await remote.close();
      await presence.close();
      await shared.close();
    },
  };
}

async function measure(createDatabase: (name: string) => Promise<string>, nodes: number): Promise<Record<string, unknown>> {
  const url = await createDatabase(`presence_bench_${nodes}`);
  const a = await instance(url, 'bench-a');
  const b = await instance(url, 'bench-b');
  await a.shared.store.pool.query(
    `INSERT INTO proxima_nodes (name, key_id, created_at, record) SELECT 'node-' || n, 'k' || n, now(), '{}' FROM generate_series(1, $1) n`,
    [nodes],
  );
  const connectedAt = new Date().toISOString();
  const started = performance.now();
  for (let i = 1; i <= nodes; i++) {
    const row: NodePresence = {
      name: `node-${i}`,
      instance: a.presence.instance,
      connectedAt,
      lastSeenAt: connectedAt,
      address: `10.0.${(i >> 8) & 255}.${i & 255}`,
      clientVersion: '0.1.0',
      services: [{ name: 'llm', kind: 'ollama', models: ADVERTS[0]!.models.map((m) => m.name), maxConcurrent: 2 }],
    };
    a.presence.put(row, ADVERTS);
  }
  await a.presence.flush();
  const connectMs = performance.now() - started;
  const connectWrites = a.presence.rowWrites;
  // B sees them all (one notice "reload" for a batch this size).
  const deadline = Date.now() + 60_000;
  while (b.remote.nodes().length < nodes && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const seenAtB = b.remote.nodes().length;
  // Idle: heartbeats spread evenly.
  const tick = 100;
  const perTick = Math.max(1, Math.round((nodes * tick) / HEARTBEAT_MS));
  let next = 1;
  const beats = setInterval(() => {
    const at = new Date();
    for (let k = 0; k < perTick; k++, next = (next % nodes) + 1) a.presence.seen(`node-${next}`, at);
  }, tick);
  const before = await counters(a.shared);
  const rowWritesBefore = a.presence.rowWrites;
  await new Promise((r) => setTimeout(r, DURATION_MS));
  const after = await counters(a.shared);
  clearInterval(beats);
  const seconds = DURATION_MS / 1000;
  // Each counters() call is itself one write transaction (pg_current_xact_id assigns an id).
  const writeTransactions = Number(after.xid - before.xid) - 1;
  const result = {
    nodes,
    connect: { ms: Math.round(connectMs), transactions: connectWrites, seenByOtherInstance: seenAtB },
    idleSeconds: seconds,
    heartbeatsPerSecond: Math.round((perTick * 1000) / tick),
    writeTransactionsPerSecond: +(writeTransactions / seconds).toFixed(2),
    xactCommitPerSecond: +((after.commits - before.commits) / seconds).toFixed(2),
    tupleWritesPerSecond: +((after.tuples - before.tuples) / seconds).toFixed(2),
    presenceRowWritesAtIdle: a.presence.rowWrites - rowWritesBefore,
  };
  await b.close();
  await a.close();
  return result;
}

async function main(): Promise<void> {
  if (findPostgresBin() === undefined) {
    process.stderr.write('PostgreSQL is not installed (Debian package postgresql); nothing measured\n');
    process.exitCode = 1;
    return;
  }
  const cleanups: (() => unknown)[] = [];
  const t = { teardown: (fn: () => unknown) => cleanups.push(fn) } as unknown as Test;
  try {
    const cluster = await startPostgres(t);
    for (const nodes of COUNTS) process.stdout.write(`${JSON.stringify(await measure((n) => cluster.createDatabase(n), nodes))}\n`);
  } finally {
    for (const fn of cleanups.reverse()) await fn();
  }
}

await main();
