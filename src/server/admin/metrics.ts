/**
 * The super node's Prometheus metrics, in a list of its own: tests run many servers in one process,
 * so nothing goes in prom-client's global registry. Counters and histograms are fed by events
 * (sessions, probes, canaries, ledger batches) and counted in plain numbers (observe/tallies.ts);
 * gauges are read at scrape time. prom-client loads at the first scrape, which puts them in a
 * Registry for its text: a super node whose metrics nobody reads never loads it (9.6–9.9 MiB to a
 * bare Node; docs/performance-notes.md, "Memory of the node and the super node").
 * Process metrics (event-loop lag, GC, memory) are the process's, not a server's: one registry per
 * process collects them from the first scrape on, and each scrape appends it. Labels are bounded:
 * fixed lists of values only. The request-path metrics register themselves into `registry` too (see
 * docs/operations.md).
 */
import type { Registry } from 'prom-client';
import type { NodeSessions } from '../control/node-sessions.js';
import type { ProbeRecord } from '../ledger/ledger-record.js';
import type { LedgerBatchObserver } from '../ledger/ledger-writer.js';
import { CounterTally, GaugeTally, HistogramTally, MetricList, register } from '../observe/tallies.js';
import type { CanaryOutcome } from '../verify/canaries.js';

/** Why a node's session ended, as the `reason` label says it; any other value counts as 'other'. */
export const CLOSE_REASONS = ['closed', 'keepalive_timeout', 'replaced', 'revoked', 'rotated', 'shutdown', 'error', 'other'] as const;
export type CloseReason = (typeof CLOSE_REASONS)[number];

/** The session's close reason (NodeSession.closeReason where it is set), bounded to {@link CLOSE_REASONS}. */
export function closeReasonOf(node: object): CloseReason {
  const reason = (node as { closeReason?: string }).closeReason ?? 'closed';
  return (CLOSE_REASONS as readonly string[]).includes(reason) ? (reason as CloseReason) : 'other';
}

let processRegistry: Promise<Registry> | undefined;

/** The process-wide registry of the default Node.js metrics, created once (at the first scrape). */
function processMetrics(): Promise<Registry> {
  processRegistry ??= import('prom-client').then(({ Registry, collectDefaultMetrics }) => {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    return registry;
  });
  return processRegistry;
}

const SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const RECORDS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 4096];

/** One super node's metrics. */
export class ServerMetrics {
  /** Where every metric of this server lives; others register theirs here (tallies.ts's `register`). */
  readonly registry = new MetricList();
  /** The Registry that formats them, made at the first scrape. */
  #formatter: Promise<Registry> | undefined;
  readonly #sessionsOpened: CounterTally;
  readonly #sessionsClosed: CounterTally;
  readonly #probes: CounterTally;
  readonly #canaries: CounterTally;
  readonly #batchRecords: HistogramTally;
  readonly #writeSeconds: HistogramTally;
  readonly #writeFailures: CounterTally;
  #nodes: NodeSessions | undefined;
  #publicConnections: (() => number) | undefined;
  readonly #onOpened = (): void => this.#sessionsOpened.inc();
  readonly #onClosed = (node: object): void => this.#sessionsClosed.inc({ reason: closeReasonOf(node) });

  constructor() {
    const list = this.registry;
    this.#sessionsOpened = register(
      list,
      new CounterTally({ name: 'proxima_sessions_opened_total', help: 'Node sessions opened (logins).' }),
    );
    this.#sessionsClosed = register(
      list,
      new CounterTally({ name: 'proxima_sessions_closed_total', help: 'Node sessions closed, by reason.', labelNames: ['reason'] }),
    );
    for (const reason of CLOSE_REASONS) this.#sessionsClosed.inc({ reason }, 0);
    this.#probes = register(
      list,
      new CounterTally({ name: 'proxima_probes_total', help: 'Availability probes, by result.', labelNames: ['result'] }),
    );
    for (const result of ['passed', 'failed']) this.#probes.inc({ result }, 0);
    this.#canaries = register(
      list,
      new CounterTally({
        name: 'proxima_canaries_total',
        help: 'Canary verdicts, by result (inconclusive: no verdict could be reached).',
        labelNames: ['result'],
      }),
    );
    for (const result of ['passed', 'failed', 'inconclusive']) this.#canaries.inc({ result }, 0);
    this.#batchRecords = register(
      list,
      new HistogramTally({ name: 'proxima_ledger_batch_records', help: 'Records per ledger write (group commit).', buckets: RECORDS }),
    );
    this.#writeSeconds = register(
      list,
      new HistogramTally({
        name: 'proxima_ledger_write_seconds',
        help: 'Time of one ledger write (O_DSYNC: until it is on disk).',
        buckets: SECONDS,
      }),
    );
    this.#writeFailures = register(
      list,
      new CounterTally({ name: 'proxima_ledger_write_failures_total', help: 'Ledger writes that failed.' }),
    );
    const gauge = (name: string, help: string, read: () => number | undefined): void => {
      register(list, new GaugeTally({ name, help, read }));
    };
    gauge('proxima_nodes_registered', 'Nodes in the registry.', () => this.#nodes?.registeredCount);
    gauge('proxima_nodes_online', 'Nodes online: logged in and advertising.', () => this.#nodes?.onlineCount());
    gauge('proxima_mux_streams_open', "Streams open on the node sessions, each one's control stream included.", () =>
      this.#nodes?.streamCount(),
    );
    gauge('proxima_public_connections_open', 'Connections open on the public listener.', () => this.#publicConnections?.());
  }

  /** Counts the sessions of `nodes` and reads its gauges at scrape time. */
  watchNodes(nodes: NodeSessions): void {
    this.#nodes?.off('opened', this.#onOpened).off('closed', this.#onClosed);
    this.#nodes = nodes;
    nodes.on('opened', this.#onOpened).on('closed', this.#onClosed);
  }

  /** Reads the public listener's open connections at scrape time. */
  watchPublic(open: () => number): void {
    this.#publicConnections = open;
  }

  /** The ledger writer's `onBatch`. */
  readonly ledgerBatch: LedgerBatchObserver = (records, durationMs, ok) => {
    this.#batchRecords.observe(records);
    this.#writeSeconds.observe(durationMs / 1000);
    if (!ok) this.#writeFailures.inc();
  };

  /** A probe's record is durable. */
  probe(record: ProbeRecord): void {
    this.#probes.inc({ result: record.ok ? 'passed' : 'failed' });
  }

  /** A canary's records are durable. */
  canary(outcome: CanaryOutcome): void {
    this.#canaries.inc({ result: outcome.verdict === null ? 'inconclusive' : outcome.verdict.passed ? 'passed' : 'failed' });
  }

  /** The Prometheus text of this server's metrics, then the process's. */
  async exposition(): Promise<{ contentType: string; text: string }> {
    this.#formatter ??= import('prom-client').then(({ Registry }) => {
      const registry = new Registry();
      this.registry.attach(registry);
      return registry;
    });
    const formatter = await this.#formatter;
    const text = (await formatter.metrics()) + (await (await processMetrics()).metrics());
    return { contentType: formatter.contentType, text };
  }

  /** Stops counting the nodes' sessions (the gauges still read them). */
  close(): void {
    this.#nodes?.off('opened', this.#onOpened).off('closed', this.#onClosed);
  }
}
