import t from 'tap';
import { sha256Hex } from '../../../src/server/models/api-config.js';
import { ApiKeys } from '../../../src/server/models/api-keys.js';

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
