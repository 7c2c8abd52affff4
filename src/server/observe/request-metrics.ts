/**
 * The request paths' metrics (prefix `proxima_`), registered on the server's prom-client Registry.
 * The tunnel's counters and histograms are plain numbers added to per request and handed to
 * prom-client only when scraped (`collect`, TallyHistogram): prom-client's `inc` and `observe` hash
 * their labels and allocate per call, measured at about a microsecond for a request's four
 * (docs/performance-notes.md, "Request metrics and the access log"). Labels stay bounded: a status class, a route from the fixed list, a model of the
 * catalog or `other`; never a host, a path or a node name a user could make up.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { API_OUTCOMES, type ApiObservation, STATUS_CLASSES, statusClassIndex, type TunnelObservation } from './observations.js';
import { TallyHistogram } from './tally-histogram.js';

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
  /** Tunnel requests per status class (index: STATUS_CLASSES). */
  readonly #tunnelCounts = new Float64Array(STATUS_CLASSES.length);
  readonly #tunnelBytes = new Float64Array(2);
  readonly #tunnelTtfb: TallyHistogram;
  readonly #tunnelDuration: TallyHistogram;
  readonly #apiRequests: Counter;
  readonly #apiBytes: Counter;
  readonly #apiTtfb: Histogram;
  readonly #apiDuration: Histogram;
  readonly #tokens: Counter;
  readonly #busy: Counter;
  readonly #queueWait: Histogram;

  constructor(registry: Registry, sources: MetricsSources) {
    const registers = [registry];
    const counts = this.#tunnelCounts;
    const bytes = this.#tunnelBytes;
    new Counter({
      name: 'proxima_tunnel_requests_total',
      help: "Requests to nodes' services through the tunnel, and those the super node refused, by status class (failed: no complete response).",
      labelNames: ['status_class'],
      registers,
      collect() {
        for (let i = 0; i < STATUS_CLASSES.length; i++) publish(this, { status_class: STATUS_CLASSES[i]! }, counts[i]!);
      },
    });
    new Counter({
      name: 'proxima_tunnel_bytes_total',
      help: 'Bytes of tunnel requests sent on to nodes (in) and of responses relayed to clients (out).',
      labelNames: ['direction'],
      registers,
      collect() {
        publish(this, { direction: 'in' }, bytes[0]!);
        publish(this, { direction: 'out' }, bytes[1]!);
      },
    });
    this.#tunnelTtfb = new TallyHistogram({
      name: 'proxima_tunnel_ttfb_seconds',
      help: "From a tunnel request's head to the first byte of its response.",
      buckets: TUNNEL_SECONDS,
      registry,
    });
    this.#tunnelDuration = new TallyHistogram({
      name: 'proxima_tunnel_duration_seconds',
      help: "From a tunnel request's head to the end of its response.",
      buckets: TUNNEL_SECONDS,
      registry,
    });
    this.#apiRequests = new Counter({
      name: 'proxima_api_requests_total',
      help: `API requests by route, model (of the catalog, else other) and outcome (${API_OUTCOMES.join(', ')}).`,
      labelNames: ['route', 'model', 'outcome'],
      registers,
    });
    this.#apiBytes = new Counter({
      name: 'proxima_api_bytes_total',
      help: 'Bytes of API request bodies (in) and of answers (out).',
      labelNames: ['direction'],
      registers,
    });
    this.#apiTtfb = new Histogram({
      name: 'proxima_api_ttfb_seconds',
      help: "From an API request's arrival to its node's first byte.",
      labelNames: ['model'],
      buckets: API_TTFB_SECONDS,
      registers,
    });
    this.#apiDuration = new Histogram({
      name: 'proxima_api_duration_seconds',
      help: "From an API request's arrival to the end of its answer.",
      labelNames: ['model'],
      buckets: API_SECONDS,
      registers,
    });
    this.#tokens = new Counter({
      name: 'proxima_api_tokens_total',
      help: 'Tokens by model as the ledger records them: prompt tokens the nodes reported (in), completion tokens (out).',
      labelNames: ['model', 'direction'],
      registers,
    });
    this.#busy = new Counter({
      name: 'proxima_api_busy_total',
      help: 'API requests answered 503 because every node sharing the model was busy (PRX_ERR_NODES_BUSY).',
      registers,
    });
    new Gauge({
      name: 'proxima_router_queue_depth',
      help: 'API requests waiting for a free node now.',
      registers,
      collect() {
        this.set(sources.queueDepth());
      },
    });
    this.#queueWait = new Histogram({
      name: 'proxima_router_queue_wait_seconds',
      help: 'How long API requests that had to wait for a free node waited (granted or not).',
      buckets: WAIT_SECONDS,
      registers,
    });
  }

  /** Counts one finished tunnel request. */
  tunnel(o: TunnelObservation): void {
    this.#tunnelCounts[statusClassIndex(o.status)]!++;
    this.#tunnelBytes[0]! += o.bytesIn;
    this.#tunnelBytes[1]! += o.bytesOut;
    if (o.ttfbMs >= 0) this.#tunnelTtfb.tally(o.ttfbMs / 1000);
    this.#tunnelDuration.tally(o.durationMs / 1000);
  }

  /** Counts one finished API request. */
  api(o: ApiObservation): void {
    const model = o.model;
    this.#apiRequests.inc({ route: o.route, model, outcome: o.outcome ?? 'ok' });
    if (o.bytesIn > 0) this.#apiBytes.inc({ direction: 'in' }, o.bytesIn);
    if (o.bytesOut > 0) this.#apiBytes.inc({ direction: 'out' }, o.bytesOut);
    if (o.ttfbMs >= 0) this.#apiTtfb.observe({ model }, o.ttfbMs / 1000);
    this.#apiDuration.observe({ model }, o.durationMs / 1000);
    if (o.tokensIn > 0) this.#tokens.inc({ model, direction: 'in' }, o.tokensIn);
    if (o.tokensOut > 0) this.#tokens.inc({ model, direction: 'out' }, o.tokensOut);
    if (o.outcome === 'busy') this.#busy.inc();
  }

  /** A request left the router's queue after `ms` (given a node, or not). */
  queueWait(ms: number): void {
    this.#queueWait.observe(ms / 1000);
  }
}

/** Sets a counter's child to a running total kept outside prom-client (at scrape time only). */
function publish(counter: Counter, labels: Record<string, string>, total: number): void {
  counter.remove(labels);
  counter.inc(labels, total);
}
