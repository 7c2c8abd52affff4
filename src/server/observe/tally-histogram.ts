/**
 * A prom-client Histogram whose observations are tallied in plain numbers (a bucket search and three
 * additions) and handed to prom-client only when scraped. prom-client's own `observe` hashes its
 * labels and allocates a closure per call; on the tunnel's path, per request, that was measured
 * (docs/performance-notes.md, "Request metrics and the access log"). Unlabelled only.
 *
 * Fenced: it relies on prom-client 15 asking `getForPromString()` for the exposition (and `get()`
 * going through it); test/server/observe/tally-histogram.test.ts checks the text a scrape gets.
 */
import { Histogram, type Registry } from 'prom-client';

/** What a tally histogram is made of. */
export interface TallyHistogramOptions {
  name: string;
  help: string;
  /** Upper bounds, ascending. */
  buckets: readonly number[];
  registry: Registry;
}

export class TallyHistogram extends Histogram {
  readonly #name: string;
  readonly #help: string;
  readonly #bounds: Float64Array;
  /** Per bucket (not cumulative); the last one is +Inf. */
  readonly #counts: Float64Array;
  #sum = 0;
  #count = 0;

  constructor(o: TallyHistogramOptions) {
    super({ name: o.name, help: o.help, buckets: [...o.buckets], registers: [o.registry] });
    this.#name = o.name;
    this.#help = o.help;
    this.#bounds = Float64Array.from(o.buckets);
    this.#counts = new Float64Array(o.buckets.length + 1);
  }

  /** Counts one value. */
  tally(value: number): void {
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.#counts[i]!++;
    this.#sum += value;
    this.#count++;
  }

  /** The exposition prom-client's registry writes: cumulative buckets, +Inf, sum, count. */
  async getForPromString(): Promise<{ name: string; help: string; type: 'histogram'; values: unknown[]; aggregator: 'sum' }> {
    const name = this.#name;
    const bucket = `${name}_bucket`;
    const values: unknown[] = [];
    let cumulative = 0;
    for (let i = 0; i < this.#bounds.length; i++) {
      cumulative += this.#counts[i]!;
      values.push({ labels: { le: this.#bounds[i] }, sharedLabels: {}, value: cumulative, metricName: bucket });
    }
    values.push({ labels: { le: '+Inf' }, sharedLabels: {}, value: this.#count, metricName: bucket });
    values.push({ labels: {}, sharedLabels: {}, value: this.#sum, metricName: `${name}_sum` });
    values.push({ labels: {}, sharedLabels: {}, value: this.#count, metricName: `${name}_count` });
    return { name, help: this.#help, type: 'histogram', values, aggregator: 'sum' };
  }
}
