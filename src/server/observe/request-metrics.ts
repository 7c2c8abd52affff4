/**
 * The request paths' metrics (prefix `proxima_`), registered on the server's metric list (or a
 * prom-client Registry a test gives). Every one is counted in plain numbers (tallies.ts) and handed
 * to prom-client only when scraped: prom-client's `inc` and `observe` hash their labels and allocate
 * per call, measured at about a microsecond for a tunnel request's four (docs/performance-notes.md,
 * "Request metrics and the access log"), and prom-client itself loads only at the first scrape.
 * Labels stay bounded: a status class, a route from the fixed list, a model of the catalog or
 * `other`; never a host, a path or a node name a user could make up.
 */
import { API_OUTCOMES, type ApiObservation, STATUS_CLASSES, statusClassIndex, type TunnelObservation } from './observations.js';
import { CounterTally, GaugeTally, HistogramTally, type MetricSink, register } from './tallies.js';

/** What the metrics read at scrape time. */
export interface MetricsSources {
  /** Requests waiting in the router's queue now. */
  queueDepth(): number;
}

const TUNNEL_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const API_TTFB_SECONDS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60];
const API_SECONDS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300];
const WAIT_SECONDS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** The request metrics of one super node. */
export class RequestMetrics {
  readonly #tunnelRequests: CounterTally;
  readonly #tunnelBytes: CounterTally;
  readonly #tunnelTtfb: HistogramTally;
  readonly #tunnelDuration: HistogramTally;
  readonly #apiRequests: CounterTally;
  readonly #apiBytes: CounterTally;
  readonly #apiTtfb: HistogramTally;
  readonly #apiDuration: HistogramTally;
  readonly #tokens: CounterTally;
  readonly #busy: CounterTally;
  readonly #queueWait: HistogramTally;

  constructor(sink: MetricSink, sources: MetricsSources) {
    this.#tunnelRequests = register(
      sink,
      new CounterTally({
        name: 'proxima_tunnel_requests_total',
        help: "Requests to nodes' services through the tunnel, and those the super node refused, by status class (failed: no complete response).",
        labelNames: ['status_class'],
      }),
    );
    for (const status_class of STATUS_CLASSES) this.#tunnelRequests.inc({ status_class }, 0);
    this.#tunnelBytes = register(
      sink,
      new CounterTally({
        name: 'proxima_tunnel_bytes_total',
        help: 'Bytes of tunnel requests sent on to nodes (in) and of responses relayed to clients (out).',
        labelNames: ['direction'],
      }),
    );
    this.#tunnelBytes.inc(IN, 0);
    this.#tunnelBytes.inc(OUT, 0);
    this.#tunnelTtfb = register(
      sink,
      new HistogramTally({
        name: 'proxima_tunnel_ttfb_seconds',
        help: "From a tunnel request's head to the first byte of its response.",
        buckets: TUNNEL_SECONDS,
      }),
    );
    this.#tunnelDuration = register(
      sink,
      new HistogramTally({
        name: 'proxima_tunnel_duration_seconds',
        help: "From a tunnel request's head to the end of its response.",
        buckets: TUNNEL_SECONDS,
      }),
    );
    this.#apiRequests = register(
      sink,
      new CounterTally({
        name: 'proxima_api_requests_total',
        help: `API requests by route, model (of the catalog, else other) and outcome (${API_OUTCOMES.join(', ')}).`,
        labelNames: ['route', 'model', 'outcome'],
      }),
    );
    this.#apiBytes = register(
      sink,
      new CounterTally({
        name: 'proxima_api_bytes_total',
        help: 'Bytes of API request bodies (in) and of answers (out).',
        labelNames: ['direction'],
      }),
    );
    this.#apiTtfb = register(
      sink,
      new HistogramTally({
        name: 'proxima_api_ttfb_seconds',
        help: "From an API request's arrival to its node's first byte.",
        labelNames: ['model'],
        buckets: API_TTFB_SECONDS,
      }),
    );
    this.#apiDuration = register(
      sink,
      new HistogramTally({
        name: 'proxima_api_duration_seconds',
        help: "From an API request's arrival to the end of its answer.",
        labelNames: ['model'],
        buckets: API_SECONDS,
      }),
    );
    this.#tokens = register(
      sink,
      new CounterTally({
        name: 'proxima_api_tokens_total',
        help: 'Tokens by model as the ledger records them: prompt tokens the nodes reported (in), completion tokens (out).',
        labelNames: ['model', 'direction'],
      }),
    );
    this.#busy = register(
      sink,
      new CounterTally({
        name: 'proxima_api_busy_total',
        help: 'API requests answered 503 because every node sharing the model was busy (PRX_ERR_NODES_BUSY).',
      }),
    );
    register(
      sink,
      new GaugeTally({
        name: 'proxima_router_queue_depth',
        help: 'API requests waiting for a free node now.',
        read: () => sources.queueDepth(),
      }),
    );
    this.#queueWait = register(
      sink,
      new HistogramTally({
        name: 'proxima_router_queue_wait_seconds',
        help: 'How long API requests that had to wait for a free node waited (granted or not).',
        buckets: WAIT_SECONDS,
      }),
    );
  }

  /** Counts one finished tunnel request. */
  tunnel(o: TunnelObservation): void {
    this.#tunnelRequests.inc(STATUS_LABELS[statusClassIndex(o.status)]);
    this.#tunnelBytes.inc(IN, o.bytesIn);
    this.#tunnelBytes.inc(OUT, o.bytesOut);
    if (o.ttfbMs >= 0) this.#tunnelTtfb.observe(o.ttfbMs / 1000);
    this.#tunnelDuration.observe(o.durationMs / 1000);
  }

  /** Counts one finished API request. */
  api(o: ApiObservation): void {
    const model = o.model;
    this.#apiRequests.inc({ route: o.route, model, outcome: o.outcome ?? 'ok' });
    if (o.bytesIn > 0) this.#apiBytes.inc(IN, o.bytesIn);
    if (o.bytesOut > 0) this.#apiBytes.inc(OUT, o.bytesOut);
    const labels = { model };
    if (o.ttfbMs >= 0) this.#apiTtfb.observe(o.ttfbMs / 1000, labels);
    this.#apiDuration.observe(o.durationMs / 1000, labels);
    if (o.tokensIn > 0) this.#tokens.inc({ model, direction: 'in' }, o.tokensIn);
    if (o.tokensOut > 0) this.#tokens.inc({ model, direction: 'out' }, o.tokensOut);
    if (o.outcome === 'busy') this.#busy.inc();
  }

  /** A request left the router's queue after `ms` (given a node, or not). */
  queueWait(ms: number): void {
    this.#queueWait.observe(ms / 1000);
  }
}

const IN = { direction: 'in' };
const OUT = { direction: 'out' };
const STATUS_LABELS = STATUS_CLASSES.map((status_class) => ({ status_class }));
