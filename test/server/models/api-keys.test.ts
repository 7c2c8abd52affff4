import t from 'tap';
import { type KeyRecord, makeKey } from '../../../src/server/keys/key-record.js';
import { sha256Hex } from '../../../src/server/models/api-config.js';
import { ApiKeys } from '../../../src/server/models/api-keys.js';
import { request } from '../../fixtures/ledger-records.js';

const keys = [
  { id: 'alice', sha256: sha256Hex('alice-key-0123456789'), nodes: ['alpha'], requestsPerMinute: 2 },
  { id: 'bob', sha256: sha256Hex('bob-key-0123456789abc'), nodes: [] },
];

t.test('a known key is its owner; a missing or wrong one is 401 unless the API is open', async (t) => {
  const ring = new ApiKeys({ open: false, keys });
  t.same(ring.check('alice-key-0123456789'), { caller: { keyId: 'alice', owner: ['alpha'] } });
  t.same(ring.check('bob-key-0123456789abc'), { caller: { keyId: 'bob', owner: [] } });
  for (const presented of [undefined, '', 'alice-key-012345678', sha256Hex('alice-key-0123456789')]) {
    const decision = ring.check(presented);
    t.ok('error' in decision && decision.error.code === 'PRX_ERR_UNAUTHORIZED', `${String(presented)}: refused`);
  }
  const open = new ApiKeys({ open: true, keys });
  t.same(open.check(undefined), { caller: { keyId: null, owner: [] } });
  t.same(open.check('ollama'), { caller: { keyId: null, owner: [] } }, 'any other key is anonymous');
  t.same(open.check('bob-key-0123456789abc'), { caller: { keyId: 'bob', owner: [] } });
});

t.test('requests per minute per key: 429 with how long to wait; other keys are not affected', async (t) => {
  let nowMs = 1_000_000;
  const ring = new ApiKeys({ open: false, keys }, () => nowMs);
  t.ok('caller' in ring.check('alice-key-0123456789'));
  t.ok('caller' in ring.check('alice-key-0123456789'));
  const limited = ring.check('alice-key-0123456789');
  t.ok('error' in limited && limited.error.code === 'PRX_ERR_RATE_LIMITED');
  t.equal('retryAfterMs' in limited && limited.retryAfterMs, 30_000);
  t.ok('caller' in ring.check('bob-key-0123456789abc'), 'bob has no limit');
  nowMs += 30_000;
  t.ok('caller' in ring.check('alice-key-0123456789'), 'a token back after 30 s');
});

t.test('stored keys work beside server.yaml’s: limits, allow-list, collisions, revocation', async (t) => {
  let nowMs = Date.UTC(2026, 11, 7, 12);
  const ring = new ApiKeys({ open: false, keys }, () => nowMs);
  const stored = (name: string, fields: Partial<KeyRecord> = {}): { record: KeyRecord; key: string } => {
    const made = makeKey(name, {}, new Date(nowMs));
    return { ...made, record: { ...made.record, ...fields } };
  };
  const carol = stored('carol', { tokensPerMinute: 100, models: ['registry.ollama.ai/library/llama3.2:latest'], nodes: ['gamma'] });
  const dave = stored('dave', { budget: { credits: 0.3, per: 'day' } });
  const clash = stored('alice');
  const gone = stored('erin', { revokedAt: new Date(nowMs).toISOString() });
  t.same(
    ring.setStoredKeys([carol.record, dave.record, clash.record, gone.record]),
    [clash.record.id],
    'a name that is a server.yaml id is ignored',
  );
  t.match(ring.check(carol.key), {
    caller: { keyId: carol.record.id, owner: ['gamma'], models: new Set(['registry.ollama.ai/library/llama3.2:latest']) },
  });
  t.match(ring.check(clash.key), { error: { code: 'PRX_ERR_UNAUTHORIZED' } });
  t.match(ring.check(gone.key), { error: { code: 'PRX_ERR_UNAUTHORIZED' } }, 'a revoked key is refused');

  ring.recorded(request({ keyId: carol.record.id, time: new Date(nowMs).toISOString() }));
  const tpm = ring.check(carol.key);
  t.match(tpm, {
    error: { code: 'PRX_ERR_RATE_LIMITED', message: 'key carol is over its limit of 100 tokens per minute' },
    retryAfterMs: 60_000,
  });
  t.ok('caller' in ring.check(carol.key, 'listing'), 'listings are not held back by tokens');
  t.ok('caller' in ring.check(carol.key, 'self'), 'nor GET /v1/key');

  ring.recorded(request({ keyId: dave.record.id, time: new Date(nowMs).toISOString() }));
  const spent = ring.check(dave.key);
  t.match(spent, { error: { code: 'PRX_ERR_QUOTA_EXCEEDED' }, retryAfterMs: 12 * 3_600_000 }, 'until the next UTC day');
  t.same(ring.describe(dave.record.id), {
    id: dave.record.id,
    name: 'dave',
    limits: { requestsPerMinute: null, tokensPerMinute: null, budget: { credits: 0.3, per: 'day' }, models: null },
    usage: { requestsThisMinute: 0, tokensThisMinute: 130, creditsToday: 0.3392, creditsThisMonth: 0.3392 },
    period: { start: '2026-12-07T00:00:00.000Z', end: '2026-12-08T00:00:00.000Z' },
  });
  nowMs += 12 * 3_600_000;
  t.ok('caller' in ring.check(dave.key), 'a new day, a new budget');

  ring.setStoredKeys([dave.record]);
  t.match(ring.check(carol.key), { error: { code: 'PRX_ERR_UNAUTHORIZED' } }, 'gone from the store: refused');
  t.same(ring.describe('alice')?.limits, { requestsPerMinute: 2, tokensPerMinute: null, budget: null, models: null });
});
