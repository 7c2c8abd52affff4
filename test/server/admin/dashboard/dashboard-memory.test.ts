/**
 * The dashboard's bounded memory: the traffic ring (rates per sample, oldest overwritten), the feed
 * (nodes online/offline, last probe, errors capped, per-node series forgotten when idle), and the
 * session map (random ids, idle and maximum age, a cap on sessions).
 */
import { EventEmitter } from 'node:events';
import t from 'tap';
import { DashboardFeed } from '../../../../src/server/admin/dashboard/dashboard-feed.js';
import { escapeHtml } from '../../../../src/server/admin/dashboard/dashboard-pages.js';
import { DashboardSessions, sessionIdOf } from '../../../../src/server/admin/dashboard/dashboard-sessions.js';
import { TrafficRing } from '../../../../src/server/admin/dashboard/traffic-ring.js';
import { probe, request } from '../../../fixtures/ledger-records.js';

t.test('the traffic ring: rates over the time since the last sample, the oldest sample overwritten', async (t) => {
  const ring = new TrafficRing(3, 0);
  ring.add(10, 100);
  ring.add(30, null);
  ring.sample(2_000);
  t.same(ring.series(), { t: [2], requestsPerS: [1], tokensPerS: [20], ttftMs: [100] });
  ring.sample(4_000);
  for (let i = 0; i < 8; i++) ring.add(1, 50 + i * 10);
  ring.sample(8_000);
  ring.sample(10_000);
  t.same(ring.series(), { t: [4, 8, 10], requestsPerS: [0, 2, 0], tokensPerS: [0, 2, 0], ttftMs: [null, 85, null] });
  t.notOk(ring.idle);
});

t.test('the feed: online since, offline since, last probe, errors capped, idle node series forgotten', async (t) => {
  let nowMs = 1_000_000;
  const live = new Set<string>();
  const nodes = Object.assign(new EventEmitter(), { live: (name: string) => (live.has(name) ? {} : undefined) });
  const feed = new DashboardFeed({ nodes, now: () => nowMs, maxErrors: 3, historyMs: 6_000, sampleIntervalMs: 2_000 });
  t.teardown(() => feed.close());
  live.add('alpha');
  nodes.emit('advertised', { name: 'alpha' });
  nowMs += 5_000;
  nodes.emit('advertised', { name: 'alpha' });
  t.equal(feed.liveness('alpha').onlineSinceMs, 1_000_000, 'a second advert does not move "since"');
  nodes.emit('closed', { name: 'alpha' });
  t.equal(feed.liveness('alpha').onlineSinceMs, 1_000_000, 'a replaced session closing leaves the node online');
  live.delete('alpha');
  nodes.emit('closed', { name: 'alpha' });
  t.same(feed.liveness('alpha'), { onlineSinceMs: null, offlineSinceMs: 1_005_000, lastProbe: null });
  feed.probe(probe({ node: 'alpha', ok: false, time: '2025-01-01T00:00:00.000Z', latencyMs: null }));
  t.same(feed.liveness('alpha').lastProbe, { timeMs: Date.UTC(2025, 0, 1), ok: false, latencyMs: null });
  for (let i = 0; i < 5; i++) feed.usage(request({ node: 'beta', outcome: 'timeout', model: `m${i}` }));
  t.same(
    feed.errors().map((e) => e.model),
    ['m4', 'm3', 'm2'],
    'the newest 3, newest first',
  );
  t.same(feed.errors('alpha'), []);
  feed.sample();
  t.equal(feed.traffic('beta').t.length, 1);
  for (let i = 0; i < 3; i++) feed.sample();
  t.same(feed.traffic('beta').t, [], 'a node with no traffic in the whole history is forgotten');
  t.equal(feed.traffic().t.length, 3, 'the network keeps its 6 s of history');
});

t.test('sessions: random ids, idle expiry, maximum age, a cap', async (t) => {
  let nowMs = 0;
  const sessions = new DashboardSessions({ maxSessions: 2, idleMs: 1_000, maxAgeMs: 2_500, now: () => nowMs });
  const a = sessions.open({ role: 'admin' });
  t.match(a, /^[A-Za-z0-9_-]{43}$/);
  t.not(sessions.open({ role: 'admin' }), a);
  t.same(sessions.viewer(a), { role: 'admin' });
  nowMs = 900;
  t.ok(sessions.viewer(a), 'used within the idle time');
  nowMs = 1_800;
  t.ok(sessions.viewer(a), 'still: each use keeps it');
  nowMs = 2_600;
  t.equal(sessions.viewer(a), undefined, 'past its maximum age');
  const b = sessions.open({ role: 'node', node: 'alpha', keyId: 'k' });
  nowMs = 3_700;
  t.equal(sessions.viewer(b), undefined, 'idle too long');
  const ids = [0, 1, 2].map(() => sessions.open({ role: 'admin' }));
  t.equal(sessions.size, 2, 'at most 2 kept');
  t.equal(sessions.viewer(ids[0]), undefined, 'the least recently used went first');
  t.equal(sessions.viewer('not-an-id'), undefined);
  t.equal(sessionIdOf(`a=1; proxima_dashboard=${ids[2]}; b=2`), ids[2]);
  t.equal(sessionIdOf('a=1'), undefined);
});

t.test('escapeHtml', async (t) => {
  t.equal(escapeHtml(`<img src=x onerror="alert('1')">&`), '&#60;img src=x onerror=&#34;alert(&#39;1&#39;)&#34;&#62;&#38;');
});
