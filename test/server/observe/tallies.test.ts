import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import t from 'tap';
import { CounterTally, GaugeTally, HistogramTally, MetricList, register } from '../../../src/server/observe/tallies.js';

/** The values of a registry's metrics as JSON, the fields tests and the exposition read. */
const json = async (r: Registry): Promise<unknown> =>
  (await r.getMetricsAsJSON()).map((m) => ({
    name: m.name,
    type: m.type,
    values: m.values.map((v) => ({ labels: v.labels, value: v.value, metricName: (v as { metricName?: string }).metricName })),
  }));

t.test("tallies scrape exactly as prom-client's own metrics fed the same values", async (t) => {
  const ours = new Registry();
  const theirs = new Registry();
  const registers = [theirs];
  const buckets = [0.001, 0.01, 0.1, 1];
  const histogram = register(ours, new HistogramTally({ name: 'x_seconds', help: 'How long.', buckets }));
  const refHistogram = new Histogram({ name: 'x_seconds', help: 'How long.', buckets, registers });
  for (const v of [0, 0.0005, 0.001, 0.002, 0.05, 0.1, 0.7, 3, 120]) {
    histogram.observe(v);
    refHistogram.observe(v);
  }
  const byModel = register(ours, new HistogramTally({ name: 'y_seconds', help: 'By "model"\\.', buckets, labelNames: ['model'] }));
  const refByModel = new Histogram({ name: 'y_seconds', help: 'By "model"\\.', buckets, labelNames: ['model'], registers });
  for (const [model, v] of [
    ['b', 0.5],
    ['a', 0.002],
    ['b', 7],
    ['a"\n\\', 0.1],
  ] as const) {
    byModel.observe(v, { model });
    refByModel.observe({ model }, v);
  }
  const plain = register(ours, new CounterTally({ name: 'z_total', help: 'Plain.' }));
  new Counter({ name: 'z_total', help: 'Plain.', registers });
  const empty = register(ours, new CounterTally({ name: 'e_total', help: 'Never counted.', labelNames: ['kind'] }));
  new Counter({ name: 'e_total', help: 'Never counted.', labelNames: ['kind'], registers });
  t.ok(plain && empty);
  const labelled = register(ours, new CounterTally({ name: 'w_total', help: 'Labelled.', labelNames: ['route', 'model'] }));
  const refLabelled = new Counter({ name: 'w_total', help: 'Labelled.', labelNames: ['route', 'model'], registers });
  for (const [labels, n] of [
    [{ route: 'chat', model: 'm' }, 0],
    [{ model: 'm', route: 'generate' }, 3],
    [{ route: 'chat', model: 'm' }, 2],
    [{ route: 'chat', model: 'n' }, 1.5],
  ] as const) {
    labelled.inc(labels, n);
    refLabelled.inc(labels, n);
  }
  let depth = 4;
  register(ours, new GaugeTally({ name: 'q_depth', help: 'Read at scrape.', read: () => depth }));
  const refGauge: Gauge = new Gauge({ name: 'q_depth', help: 'Read at scrape.', registers, collect: () => refGauge.set(depth) });
  t.equal(await ours.metrics(), await theirs.metrics(), 'the same exposition text');
  t.same(await json(ours), await json(theirs), 'the same values as JSON');
  depth = 0;
  t.equal(await ours.metrics(), await theirs.metrics(), 'gauges read again at the next scrape');
  const text = await ours.metrics();
  t.match(text, /x_seconds_bucket\{le="0\.001"\} 3\n/);
  t.match(text, /x_seconds_count 9\n/);
  t.match(text, /y_seconds_bucket\{le="\+Inf",model="b"\} 2\n/);
  t.match(text, /w_total\{route="chat",model="m"\} 2\n/);
  t.match(text, /q_depth 0\n/);
});

t.test('a metric list holds its metrics until a registry is attached, then hands it later ones too', async (t) => {
  const list = new MetricList();
  const early = register(list, new CounterTally({ name: 'a_total', help: 'Early.' }));
  early.inc();
  const registry = new Registry();
  t.equal(await registry.metrics(), '\n', 'nothing registered before attach');
  list.attach(registry);
  register(list, new CounterTally({ name: 'b_total', help: 'Late.' })).inc(undefined, 2);
  t.equal(
    await registry.metrics(),
    '# HELP a_total Early.\n# TYPE a_total counter\na_total 1\n\n# HELP b_total Late.\n# TYPE b_total counter\nb_total 2\n',
  );
});
