import { Histogram, Registry } from 'prom-client';
import t from 'tap';
import { TallyHistogram } from '../../../src/server/observe/tally-histogram.js';

t.test("a tally histogram scrapes exactly as prom-client's own Histogram with the same observations", async (t) => {
  const ours = new Registry();
  const theirs = new Registry();
  const buckets = [0.001, 0.01, 0.1, 1];
  const tally = new TallyHistogram({ name: 'x_seconds', help: 'How long.', buckets, registry: ours });
  const reference = new Histogram({ name: 'x_seconds', help: 'How long.', buckets, registers: [theirs] });
  for (const v of [0, 0.0005, 0.001, 0.002, 0.05, 0.1, 0.7, 3, 120]) {
    tally.tally(v);
    reference.observe(v);
  }
  t.equal(await ours.metrics(), await theirs.metrics(), 'the same exposition text');
  const json = async (r: Registry): Promise<unknown> =>
    (await r.getMetricsAsJSON())[0]!.values.map((v) => ({
      labels: v.labels,
      value: v.value,
      metricName: (v as { metricName?: string }).metricName,
    }));
  t.same(await json(ours), await json(theirs), 'the same values as JSON');
  t.match(await ours.metrics(), /x_seconds_bucket\{le="0\.001"\} 3\n/);
  t.match(await ours.metrics(), /x_seconds_count 9\n/);
});
