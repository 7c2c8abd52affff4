/**
 * What the dashboard knows beyond the registry and the live sessions, gathered in process from the
 * super node's own events: traffic sampled every 2 s into bounded rings (one for the network, one per
 * node that had traffic, the least recently busy forgotten first), when each node came online or went
 * offline, its last probe, and a bounded ring of recent errors.
 */
import { LazyLru } from '../../lazy-lru.js';
import type { ProbeRecord, RequestRecord } from '../../ledger/ledger-record.js';
import type { CanaryOutcome } from '../../verify/canaries.js';
import { TrafficRing, type TrafficSeries } from './traffic-ring.js';

/** The live nodes' events the feed follows (NodeSessions). */
export interface FeedNodes {
  on(event: 'advertised' | 'closed', listener: (node: { name: string }) => void): unknown;
  off(event: 'advertised' | 'closed', listener: (node: { name: string }) => void): unknown;
  live(name: string): unknown;
}

/** How often and how long traffic is kept, and how many of everything. */
export interface DashboardFeedOptions {
  nodes: FeedNodes;
  sampleIntervalMs?: number;
  historyMs?: number;
  maxErrors?: number;
  /** Nodes with their own traffic series; the least recently busy is forgotten past it. */
  maxNodeSeries?: number;
  now?: () => number;
}

/** One recent error, as the page lists it. */
export interface RecentError {
  timeMs: number;
  node: string;
  kind: 'request' | 'probe' | 'canary';
  model: string | null;
  message: string;
}

/** When a node's state last changed, and its last probe. */
export interface NodeLiveness {
  onlineSinceMs: number | null;
  offlineSinceMs: number | null;
  lastProbe: { timeMs: number; ok: boolean; latencyMs: number | null } | null;
}

export const DEFAULT_SAMPLE_INTERVAL_MS = 2_000;
export const DEFAULT_HISTORY_MS = 15 * 60_000;
export const DEFAULT_MAX_ERRORS = 100;
export const DEFAULT_MAX_NODE_SERIES = 256;
const MAX_NODES_REMEMBERED = 10_000;

/** The dashboard's in-process memory. Call {@link close} to stop its timer and listeners. */
export class DashboardFeed {
  readonly #nodes: FeedNodes;
  readonly #now: () => number;
  readonly #capacity: number;
  readonly #maxErrors: number;
  readonly #total: TrafficRing;
  readonly #byNode: LazyLru<string, TrafficRing>;
  readonly #liveness = new LazyLru<string, NodeLiveness>({ max: MAX_NODES_REMEMBERED });
  readonly #errors: RecentError[] = [];
  readonly #timer: NodeJS.Timeout;

  readonly #onAdvertised = (node: { name: string }): void => {
    const entry = this.#entry(node.name);
    if (entry.onlineSinceMs === null) {
      entry.onlineSinceMs = this.#now();
      entry.offlineSinceMs = null;
    }
  };
  readonly #onClosed = (node: { name: string }): void => {
    // A replaced session closes after its successor logged in: the node is still online.
    if (this.#nodes.live(node.name) !== undefined) return;
    const entry = this.#entry(node.name);
    entry.onlineSinceMs = null;
    entry.offlineSinceMs = this.#now();
  };

  constructor(options: DashboardFeedOptions) {
    this.#nodes = options.nodes;
    this.#now = options.now ?? Date.now;
    const intervalMs = options.sampleIntervalMs ?? DEFAULT_SAMPLE_INTERVAL_MS;
    this.#capacity = Math.max(2, Math.ceil((options.historyMs ?? DEFAULT_HISTORY_MS) / intervalMs));
    this.#maxErrors = options.maxErrors ?? DEFAULT_MAX_ERRORS;
    this.#total = new TrafficRing(this.#capacity, this.#now());
    this.#byNode = new LazyLru({ max: options.maxNodeSeries ?? DEFAULT_MAX_NODE_SERIES });
    this.#nodes.on('advertised', this.#onAdvertised);
    this.#nodes.on('closed', this.#onClosed);
    this.#timer = setInterval(() => this.sample(), intervalMs).unref();
  }

  /** A routed request's record (ProximaServer's `usage` event). */
  usage(record: RequestRecord): void {
    const tokens = record.completionTokensReported ?? record.completionTokensObserved;
    this.#total.add(tokens, record.ttftMs);
    let ring = this.#byNode.get(record.node);
    if (ring === undefined) {
      ring = new TrafficRing(this.#capacity, this.#now());
      this.#byNode.set(record.node, ring);
    }
    ring.add(tokens, record.ttftMs);
    if (record.outcome !== 'ok') {
      const reason = record.finishReason === null ? '' : ` (${record.finishReason})`;
      this.#error({ node: record.node, kind: 'request', model: record.model, message: `${record.outcome}${reason} on ${record.route}` });
    }
  }

  /** A probe's record (`probe` event). */
  probe(record: ProbeRecord): void {
    const timeMs = Date.parse(record.time);
    this.#entry(record.node).lastProbe = { timeMs, ok: record.ok, latencyMs: record.latencyMs };
    if (!record.ok) this.#error({ node: record.node, kind: 'probe', model: null, message: 'the availability probe failed' });
  }

  /** A canary's records (`canary` event). */
  canary(outcome: CanaryOutcome): void {
    const { verdict, flag } = outcome;
    if (verdict !== null && !verdict.passed) {
      this.#error({ node: verdict.node, kind: 'canary', model: verdict.model, message: `canary failed: ${verdict.reason}` });
    }
    if (flag !== null)
      this.#error({ node: flag.node, kind: 'canary', model: null, message: `flagged for epoch ${flag.epoch}: ${flag.reason}` });
  }

  /** Closes the current traffic sample (the timer does this every interval). */
  sample(): void {
    const nowMs = this.#now();
    this.#total.sample(nowMs);
    for (const [name, ring] of this.#byNode.entries()) {
      ring.sample(nowMs);
      if (ring.idle) this.#byNode.delete(name);
    }
  }

  /** The network's traffic, or one node's. */
  traffic(node?: string): TrafficSeries {
    if (node === undefined) return this.#total.series();
    return this.#byNode.peek(node)?.series() ?? { t: [], requestsPerS: [], tokensPerS: [], ttftMs: [] };
  }

  /** Recent errors, newest first: every node's, or one node's. */
  errors(node?: string): RecentError[] {
    const all = this.#errors.toReversed();
    return node === undefined ? all : all.filter((e) => e.node === node);
  }

  liveness(name: string): NodeLiveness {
    return this.#liveness.peek(name) ?? { onlineSinceMs: null, offlineSinceMs: null, lastProbe: null };
  }

  /** Stops the timer and the listeners. Idempotent. */
  close(): void {
    clearInterval(this.#timer);
    this.#nodes.off('advertised', this.#onAdvertised);
    this.#nodes.off('closed', this.#onClosed);
  }

  #entry(name: string): NodeLiveness {
    let entry = this.#liveness.get(name);
    if (entry === undefined) {
      entry = { onlineSinceMs: null, offlineSinceMs: null, lastProbe: null };
      this.#liveness.set(name, entry);
    }
    return entry;
  }

  #error(error: Omit<RecentError, 'timeMs'>): void {
    this.#errors.push({ timeMs: this.#now(), ...error });
    if (this.#errors.length > this.#maxErrors) this.#errors.shift();
  }
}
