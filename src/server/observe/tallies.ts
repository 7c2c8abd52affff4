/**
 * Metrics counted in plain numbers, with no prom-client loaded: counters, gauges read at scrape time
 * and histograms, each answering prom-client 15's `get()` (and, for histograms,
 * `getForPromString()`) with the values its own Counter, Gauge and Histogram would give for the
 * same calls. A prom-client Registry formats them like its own (`registerMetric`), so prom-client
 * (9.6–9.9 MiB to a bare Node with @opentelemetry/api, for the whole life of the process) loads only
 * when someone scrapes /metrics (docs/performance-notes.md, "Memory of the node and the super
 * node"). Counting is also cheaper: prom-client's `inc` and `observe` sort and hash their labels on
 * every call.
 *
 * Fenced: the shapes below are prom-client 15's; test/server/observe/tallies.test.ts checks that a
 * Registry's text for each equals the text of prom-client's own metric fed the same values.
 */

/** Label values by label name. */
export type Labels = Record<string, string>;

/** One exposed value, in prom-client's shape. */
interface PromValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
  sharedLabels?: Labels;
  exemplar?: null;
}

/** What prom-client's `get()` answers. */
interface PromData {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  values: PromValue[];
  aggregator: 'sum';
}

/** A metric a prom-client Registry can format (`registerMetric`). */
export interface TallyMetric {
  readonly name: string;
  readonly help: string;
  readonly type: PromData['type'];
  get(): Promise<PromData>;
}

/** Where metrics are registered: a prom-client Registry (tests), or a {@link MetricList}. */
export interface MetricSink {
  registerMetric(metric: never): void;
}

/** Registers `metric` on `sink` (a prom-client Registry takes any object of its metrics' shape). */
export function register<M extends TallyMetric>(sink: MetricSink, metric: M): M {
  sink.registerMetric(metric as never);
  return metric;
}

/** The metrics of a server, in the order registered, until a prom-client Registry takes them. */
export class MetricList implements MetricSink {
  readonly #metrics: TallyMetric[] = [];
  #attached: MetricSink | undefined;

  registerMetric(metric: never): void {
    this.#metrics.push(metric);
    this.#attached?.registerMetric(metric);
  }

  /** Registers every metric on `sink`, now and from now on. */
  attach(sink: MetricSink): void {
    this.#attached = sink;
    for (const m of this.#metrics) sink.registerMetric(m as never);
  }
}

/** The key of a label set: its values in the order of the metric's label names. */
function keyOf(names: readonly string[], labels: Labels | undefined): string {
  if (names.length === 0 || labels === undefined) return '';
  if (names.length === 1) return labels[names[0]!] ?? '';
  let key = '';
  for (const n of names) key += `${labels[n] ?? ''}\u0000`;
  return key;
}

/** What a counter or a histogram is made of. */
export interface TallyOptions {
  name: string;
  help: string;
  labelNames?: readonly string[];
}

/** A counter. With no label names it has its one series from the start, at 0 (as prom-client's). */
export class CounterTally implements TallyMetric {
  readonly type = 'counter';
  readonly name: string;
  readonly help: string;
  readonly #names: readonly string[];
  readonly #series = new Map<string, { labels: Labels; value: number }>();

  constructor(o: TallyOptions) {
    this.name = o.name;
    this.help = o.help;
    this.#names = o.labelNames ?? [];
    if (this.#names.length === 0) this.#series.set('', { labels: {}, value: 0 });
  }

  /** Adds `value` (1 by default) to the series of `labels`; its first labels object is kept for the text. */
  inc(labels?: Labels, value = 1): void {
    const key = keyOf(this.#names, labels);
    const series = this.#series.get(key);
    if (series === undefined) this.#series.set(key, { labels: labels ?? {}, value });
    else series.value += value;
  }

  async get(): Promise<PromData> {
    const values = [...this.#series.values()].map((s) => ({ value: s.value, labels: s.labels }));
    return { help: this.help, name: this.name, type: 'counter', values, aggregator: 'sum' };
  }
}

/** An unlabelled gauge whose value is read at scrape time (0 when `read` has none). */
export class GaugeTally implements TallyMetric {
  readonly type = 'gauge';
  readonly name: string;
  readonly help: string;
  readonly #read: () => number | undefined;

  constructor(o: { name: string; help: string; read: () => number | undefined }) {
    this.name = o.name;
    this.help = o.help;
    this.#read = o.read;
  }

  async get(): Promise<PromData> {
    return { help: this.help, name: this.name, type: 'gauge', values: [{ value: this.#read() ?? 0, labels: {} }], aggregator: 'sum' };
  }
}

/** One label set's tallies: per bucket (not cumulative, the last one +Inf), sum and count. */
interface Tallies {
  labels: Labels;
  counts: Float64Array;
  sum: number;
  count: number;
}

/** A histogram. With no label names it has its one series from the start, empty (as prom-client's). */
export class HistogramTally implements TallyMetric {
  readonly type = 'histogram';
  readonly name: string;
  readonly help: string;
  readonly #names: readonly string[];
  readonly #bounds: Float64Array;
  readonly #series = new Map<string, Tallies>();
  /** The unlabelled series, when there are no label names. */
  readonly #only: Tallies | undefined;

  constructor(o: TallyOptions & { buckets: readonly number[] }) {
    this.name = o.name;
    this.help = o.help;
    this.#names = o.labelNames ?? [];
    this.#bounds = Float64Array.from(o.buckets);
    if (this.#names.length === 0) {
      this.#only = this.#tallies({});
      this.#series.set('', this.#only);
    }
  }

  #tallies(labels: Labels): Tallies {
    return { labels, counts: new Float64Array(this.#bounds.length + 1), sum: 0, count: 0 };
  }

  /** Counts `value` in the series of `labels` (none for an unlabelled histogram). */
  observe(value: number, labels?: Labels): void {
    let t = this.#only;
    if (t === undefined) {
      const key = keyOf(this.#names, labels);
      t = this.#series.get(key);
      if (t === undefined) this.#series.set(key, (t = this.#tallies(labels ?? {})));
    }
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    t.counts[i]!++;
    t.sum += value;
    t.count++;
  }

  /** The values with each series' labels apart (`sharedLabels`), as a Registry formats them. */
  async getForPromString(): Promise<PromData> {
    const bucket = `${this.name}_bucket`;
    const values: PromValue[] = [];
    for (const t of this.#series.values()) {
      let cumulative = 0;
      for (let i = 0; i < this.#bounds.length; i++) {
        cumulative += t.counts[i]!;
        values.push({ labels: { le: this.#bounds[i]! }, sharedLabels: t.labels, value: cumulative, metricName: bucket, exemplar: null });
      }
      values.push({ labels: { le: '+Inf' }, sharedLabels: t.labels, value: t.count, metricName: bucket, exemplar: null });
      values.push({ labels: {}, sharedLabels: t.labels, value: t.sum, metricName: `${this.name}_sum` });
      values.push({ labels: {}, sharedLabels: t.labels, value: t.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: 'histogram', values, aggregator: 'sum' };
  }

  /** The values with each series' labels merged into each value's (prom-client's `get()`). */
  async get(): Promise<PromData> {
    const data = await this.getForPromString();
    data.values = data.values.map(({ sharedLabels, labels, ...rest }) => ({ ...rest, labels: { ...labels, ...sharedLabels } }));
    return data;
  }
}
