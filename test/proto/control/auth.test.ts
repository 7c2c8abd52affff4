import { createHmac } from 'node:crypto';
import t from 'tap';
import {
  constantTimeEqual,
  deriveToken,
  isKeyId,
  loginProof,
  newKeyId,
  newNonce,
  parseToken,
  verifyLoginProof,
} from '../../../src/proto/control/auth.js';

const secret = Buffer.alloc(32, 7);
const keyId = '0123456789abcdef';

/** The token computed straight from the documented formula, not from the code under test. */
function formulaToken(secretBytes: Buffer, name: string, kid: string): string {
  const mac = createHmac('sha256', secretBytes).update(Buffer.concat([Buffer.from(name), Buffer.from([0]), Buffer.from(kid)]));
  return `prx_${kid}_${mac.digest('base64url')}`;
}

/** The login proof straight from the documented formula. */
function formulaProof(token: string, nonce: string, name: string, timeMs: number): string {
  const data = Buffer.concat([Buffer.from(nonce), Buffer.from([0]), Buffer.from(name), Buffer.from([0]), Buffer.from(String(timeMs))]);
  return createHmac('sha256', Buffer.from(token)).update(data).digest('base64url');
}

t.test('tokens match the formula HMAC-SHA256(secret, name 0x00 keyId)', async (t) => {
  const token = deriveToken(secret, 'alpha', keyId);
  t.equal(token, formulaToken(secret, 'alpha', keyId));
  t.match(token, /^prx_0123456789abcdef_[A-Za-z0-9_-]{43}$/);
  t.not(deriveToken(Buffer.alloc(32, 8), 'alpha', keyId), token, 'another secret, another token');
  t.not(deriveToken(secret, 'alphb', keyId), token, 'another name, another token');
  t.not(deriveToken(secret, 'alpha', '0123456789abcdee'), token, 'another key id, another token');
  // Without the separator, name "ab" + key id "c..." and name "a" + key id "bc..." would collide.
  t.not(formulaToken(secret, 'ab', 'cdef'), formulaToken(secret, 'a', 'bcdef'));
});

t.test('parseToken reads the key id and refuses anything else with PRX_ERR_AUTH_FAILED', async (t) => {
  const token = deriveToken(secret, 'alpha', keyId);
  t.same(parseToken(token), { keyId });
  const bad = [
    '',
    'prx_',
    token.slice(0, -1),
    token + 'A',
    token.replace('prx_', 'pr_'),
    token.replace(keyId, keyId.toUpperCase()),
    token.replace(keyId, keyId.slice(1)),
    `prx_${keyId}-${token.slice(21)}`,
    42,
    null,
    undefined,
  ];
  for (const candidate of bad) t.throws(() => parseToken(candidate), { code: 'PRX_ERR_AUTH_FAILED' }, String(candidate));
});

t.test('login proofs match the formula and fail on any wrong part', async (t) => {
  const token = deriveToken(secret, 'alpha', keyId);
  const nonce = newNonce();
  const timeMs = 1_700_000_000_123;
  const fields = { nonce, name: 'alpha', timeMs };
  const proof = loginProof(token, fields);
  t.equal(proof, formulaProof(token, nonce, 'alpha', timeMs));
  t.ok(verifyLoginProof(token, fields, proof));
  t.notOk(verifyLoginProof(deriveToken(Buffer.alloc(32, 8), 'alpha', keyId), fields, proof), 'wrong secret');
  t.notOk(verifyLoginProof(deriveToken(secret, 'alpha', newKeyId()), fields, proof), 'wrong key id');
  t.notOk(verifyLoginProof(token, { ...fields, name: 'alphb' }, proof), 'wrong name');
  t.notOk(verifyLoginProof(token, { ...fields, nonce: newNonce() }, proof), 'wrong nonce');
  t.notOk(verifyLoginProof(token, { ...fields, timeMs: timeMs + 1 }, proof), 'wrong time');
  t.notOk(verifyLoginProof(token, { ...fields, timeMs: 1.5 }, loginProof(token, { ...fields, timeMs: 1.5 })), 'fractional time');
  for (const junk of ['', proof.slice(1), proof + '=', token, 42, null]) t.notOk(verifyLoginProof(token, fields, junk), String(junk));
});

t.test('key ids and nonces are random and well-formed', async (t) => {
  const ids = new Set(Array.from({ length: 200 }, newKeyId));
  t.equal(ids.size, 200);
  for (const id of ids) t.ok(isKeyId(id), id);
  t.notOk(isKeyId('0123456789ABCDEF'));
  t.notOk(isKeyId(123));
  const nonce = newNonce();
  t.equal(Buffer.from(nonce, 'base64url').length, 32);
  t.not(newNonce(), nonce);
});

t.test('constantTimeEqual compares any lengths', async (t) => {
  t.ok(constantTimeEqual('admin-secret', 'admin-secret'));
  t.notOk(constantTimeEqual('admin-secret', 'admin-secreT'));
  t.notOk(constantTimeEqual('admin-secret', 'admin-secret-longer'));
  t.notOk(constantTimeEqual('', 'x'));
  t.ok(constantTimeEqual(Buffer.from([1, 2]), Buffer.from([1, 2])));
});
