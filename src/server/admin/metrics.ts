/**
 * The super node's Prometheus metrics (prom-client), in a Registry of its own: tests run many
 * servers in one process, so nothing goes in prom-client's global registry. Counters and histograms
 * are fed by events (sessions, probes, canaries, ledger batches); gauges are read at scrape time.
 * Process metrics (event-loop lag, GC, memory) are the process's, not a server's: one registry per
 * process collects them, and each scrape appends it. Labels are bounded: fixed lists of values only.
 * The request-path metrics register themselves into `registry` too (see docs/operations.md).
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { NodeSessions } from '../control/node-sessions.js';
import type { ProbeRecord } from '../ledger/ledger-record.js';
import type { LedgerBatchObserver } from '../ledger/ledger-writer.js';
import type { CanaryOutcome } from '../verify/canaries.js';

/** Why a node's session ended, as the `reason` label says it; any other value counts as 'other'. */
export const CLOSE_REASONS = ['closed', 'keepalive_timeout', 'replaced', 'revoked', 'rotated', 'shutdown', 'error', 'other'] as const;
export type CloseReason = (typeof CLOSE_REASONS)[number];

/** The session's close reason (NodeSession.closeReason where it is set), bounded to {@link CLOSE_REASONS}. */
export function closeReasonOf(node: object): CloseReason {
  const reason = (node as { closeReason?: string }).closeReason ?? 'closed';
  return (CLOSE_REASONS as readonly string[]).includes(reason) ? (reason as CloseReason) : 'other';
}

let processRegistry: Registry | undefined;

/** The process-wide registry of the default Node.js metrics, created once. */
function processMetrics(): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

const SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const RECORDS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 4096];

/** One super node's metrics. */
export class ServerMetrics {
  /** Where every metric of this server lives; others register theirs here (`registers: [metrics.registry]`). */
  readonly registry = new Registry();
  readonly #sessionsOpened: Counter;
  readonly #sessionsClosed: Counter<'reason'>;
  readonly #probes: Counter<'result'>;
  readonly #canaries: Counter<'result'>;
  readonly #batchRecords: Histogram;
  readonly #writeSeconds: Histogram;
  readonly #writeFailures: Counter;
  #nodes: NodeSessions | undefined;
  #publicConnections: (() => number) | undefined;
  readonly #onOpened = (): void => this.#sessionsOpened.inc();
  readonly #onClosed = (node: object): void => this.#sessionsClosed.inc({ reason: closeReasonOf(node) });

  constructor() {
    const registers = [this.registry];
    this.#sessionsOpened = new Counter({ name: 'proxima_sessions_opened_total', help: 'Node sessions opened (logins).', registers });
    this.#sessionsClosed = new Counter({
      name: 'proxima_sessions_closed_total',
      help: 'Node sessions closed, by reason.',
      labelNames: ['reason'],
      registers,
    });
    for (const reason of CLOSE_REASONS) this.#sessionsClosed.inc({ reason }, 0);
    this.#probes = new Counter({
      name: 'proxima_probes_total',
      help: 'Availability probes, by result.',
      labelNames: ['result'],
      registers,
    });
    for (const result of ['passed', 'failed']) this.#probes.inc({ result }, 0);
    this.#canaries = new Counter({
      name: 'proxima_canaries_total',
      help: 'Canary verdicts, by result (inconclusive: no verdict could be reached).',
      labelNames: ['result'],
      registers,
    });
    for (const result of ['passed', 'failed', 'inconclusive']) this.#canaries.inc({ result }, 0);
    this.#batchRecords = new Histogram({
      name: 'proxima_ledger_batch_records',
      help: 'Records per ledger write (group commit).',
      buckets: RECORDS,
      registers,
    });
    this.#writeSeconds = new Histogram({
      name: 'proxima_ledger_write_seconds',
      help: 'Time of one ledger write (O_DSYNC: until it is on disk).',
      buckets: SECONDS,
      registers,
    });
    this.#writeFailures = new Counter({ name: 'proxima_ledger_write_failures_total', help: 'Ledger writes that failed.', registers });
    const gauge = (name: string, help: string, read: () => number | undefined): void => {
      const g: Gauge = new Gauge({ name, help, registers, collect: () => g.set(read() ?? 0) });
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
    const text = (await this.registry.metrics()) + (await processMetrics().metrics());
    return { contentType: this.registry.contentType, text };
  }

  /** Stops counting the nodes' sessions (the gauges still read them). */
  close(): void {
    this.#nodes?.off('opened', this.#onOpened).off('closed', this.#onClosed);
  }
}
