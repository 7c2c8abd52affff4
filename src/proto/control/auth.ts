/**
 * Node tokens and the login proof (docs/protocol.md "Authentication"). Pure math over node:crypto.
 *
 * A token is `prx_<keyId>_<mac>` where mac = base64url(HMAC-SHA256(serverSecret, name ‖ 0x00 ‖ keyId)).
 * The server never stores tokens: it re-derives them from its secret, the name and the stored key id.
 * A node proves it holds its token without sending it: proof = HMAC-SHA256(token, nonce ‖ 0x00 ‖ name ‖
 * 0x00 ‖ timeMs), with timeMs in decimal ASCII. The 0x00 separators keep the fields unambiguous
 * (name `a1` at time 23 and name `a` at time 123 would otherwise sign the same bytes).
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { ErrorCodes, ProximaError } from '../../errors.js';

/** Every token starts with this, so a leaked token is recognisable by secret scanners. */
export const TOKEN_PREFIX = 'prx_';

/** Key ids are 16 lower-case hex characters (64 random bits): unique per node, not secret. */
export const KEY_ID_PATTERN = /^[0-9a-f]{16}$/;

/** A 32-byte HMAC in unpadded base64url is 43 characters. */
const MAC_PATTERN = /^[A-Za-z0-9_-]{43}$/;
const TOKEN_PATTERN = /^prx_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/** Bytes of randomness in a login nonce. */
export const NONCE_BYTES = 32;

const SEPARATOR = Buffer.from([0]);

/** A fresh random key id. */
export function newKeyId(): string {
  return randomBytes(8).toString('hex');
}

/** True when `value` has the shape of a key id. */
export function isKeyId(value: unknown): value is string {
  return typeof value === 'string' && KEY_ID_PATTERN.test(value);
}

/** A fresh single-use login nonce, base64url. */
export function newNonce(): string {
  return randomBytes(NONCE_BYTES).toString('base64url');
}

/** The token of node `name` under key `keyId`, derived from the server secret. */
export function deriveToken(secret: Uint8Array, name: string, keyId: string): string {
  const mac = createHmac('sha256', secret)
    .update(Buffer.from(name, 'utf8'))
    .update(SEPARATOR)
    .update(Buffer.from(keyId, 'utf8'))
    .digest('base64url');
  return `${TOKEN_PREFIX}${keyId}_${mac}`;
}

/** The parts of a well-formed token. */
export interface ParsedToken {
  keyId: string;
}

/** Reads the key id out of a token; PRX_ERR_AUTH_FAILED when the token is not well-formed. */
export function parseToken(token: unknown): ParsedToken {
  const match = typeof token === 'string' ? TOKEN_PATTERN.exec(token) : null;
  // The message never echoes the token: it may be a real one with a typo.
  if (match === null) throw new ProximaError(ErrorCodes.AUTH_FAILED, 'the token is not a Proxima token (prx_<keyId>_<mac>)');
  return { keyId: match[1]! };
}

/** What a node signs to log in. */
export interface LoginFields {
  nonce: string;
  name: string;
  timeMs: number;
}

/** The login proof, base64url: HMAC-SHA256(key = token, nonce ‖ 0x00 ‖ name ‖ 0x00 ‖ timeMs). */
export function loginProof(token: string, fields: LoginFields): string {
  return createHmac('sha256', Buffer.from(token, 'utf8'))
    .update(Buffer.from(fields.nonce, 'utf8'))
    .update(SEPARATOR)
    .update(Buffer.from(fields.name, 'utf8'))
    .update(SEPARATOR)
    .update(String(Math.trunc(fields.timeMs)))
    .digest('base64url');
}

/** True when `proof` is the login proof for `token` over `fields`, compared in constant time. */
export function verifyLoginProof(token: string, fields: LoginFields, proof: unknown): boolean {
  if (typeof proof !== 'string' || !MAC_PATTERN.test(proof)) return false;
  if (!Number.isSafeInteger(fields.timeMs)) return false;
  return constantTimeEqual(loginProof(token, fields), proof);
}

/**
 * Compares two secrets without leaking where they differ or how long they are: both are hashed
 * with SHA-256 first, so timingSafeEqual always sees two 32-byte digests.
 */
export function constantTimeEqual(a: string | Uint8Array, b: string | Uint8Array): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}
