/**
 * Who may reach a node's service on its public hostname, as the node states it and the super node
 * enforces it: the exposure, and for a protected service its credentials (as hashes only) and its
 * address ranges. Pure: the hash formats, their verification (node:crypto) and the syntax of an
 * address range. Matching addresses against ranges needs node:net and lives in src/config.
 *
 * Password hashes: `scrypt$N$r$p$salt$hash`, salt and hash in unpadded base64url. Token hashes:
 * `sha256$<64 hex>` (tokens are long and random: a slow hash would add nothing).
 */
import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/**
 * `network`: only through the network's API (routed, keyed, metered); `public`: anyone on the
 * tenant host; `protected`: the tenant host, for those `auth` lets in.
 */
export type Exposure = 'network' | 'public' | 'protected';
export const EXPOSURES: readonly Exposure[] = ['network', 'public', 'protected'];

/** One HTTP Basic user. */
export interface BasicUser {
  user: string;
  /** `scrypt$N$r$p$salt$hash`. */
  passwordHash: string;
}

/** What a protected service requires; at least one list is set. */
export interface ServiceAuth {
  basic?: BasicUser[];
  /** `sha256$<hex>` of each accepted bearer token. */
  bearer?: string[];
  /** Address ranges let in; when set, every other address is refused. */
  allow?: string[];
  /** Address ranges refused, even when `allow` matches. */
  deny?: string[];
}

/** The default exposure of a service of `kind` that states none. */
export function defaultExposure(kind: 'http' | 'ollama'): Exposure {
  return kind === 'ollama' ? 'network' : 'public';
}

/** A service's exposure: the one it states, else its kind's default. */
export function exposureOf(service: { kind: 'http' | 'ollama'; expose?: Exposure }): Exposure {
  return service.expose ?? defaultExposure(service.kind);
}

/** Bounds on what an `auth` may hold, in config and in an advert alike. */
export const AUTH_LIMITS = { users: 64, tokens: 64, ranges: 256, userLength: 64 } as const;

/** A Basic user name: visible characters but `:` (RFC 7617 forbids it in the user-id). */
export const BASIC_USER = /^[\x21-\x39\x3b-\x7e]{1,64}$/;

/** The parameters of a new password hash: 16 MiB and about 50 ms a verification. */
export const SCRYPT_DEFAULTS = { N: 16384, r: 8, p: 1 } as const;
const SALT_BYTES = 16;
const KEY_BYTES = 32;
/** scrypt needs 128·N·r bytes; a hash asking for more than this (a hostile node's) is refused. */
const SCRYPT_MAX_MEMORY = 32 * 1024 * 1024;

/** A parsed password hash. */
export interface ScryptHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

const SCRYPT_FORMAT = /^scrypt\$(\d{1,7})\$(\d{1,2})\$(\d)\$([A-Za-z0-9_-]{11,86})\$([A-Za-z0-9_-]{22,86})$/;
const SHA256_FORMAT = /^sha256\$[0-9a-f]{64}$/;

/** The parsed hash, or undefined when `text` is not one this code will verify (bounded cost). */
export function parseScryptHash(text: unknown): ScryptHash | undefined {
  if (typeof text !== 'string') return undefined;
  const m = SCRYPT_FORMAT.exec(text);
  if (m === null) return undefined;
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const powerOfTwo = N >= 1024 && (N & (N - 1)) === 0;
  if (!powerOfTwo || r < 1 || p < 1 || p > 4 || 128 * N * r > SCRYPT_MAX_MEMORY) return undefined;
  const salt = Buffer.from(m[4]!, 'base64url');
  const hash = Buffer.from(m[5]!, 'base64url');
  if (salt.length < 8 || hash.length < 16 || hash.length > 64) return undefined;
  return { N, r, p, salt, hash };
}

/** True when `text` is a token hash. */
export function isTokenHash(text: unknown): text is string {
  return typeof text === 'string' && SHA256_FORMAT.test(text);
}

function derive(password: string, salt: Buffer, keyBytes: number, h: { N: number; r: number; p: number }): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, keyBytes, { N: h.N, r: h.r, p: h.p, maxmem: 2 * SCRYPT_MAX_MEMORY }, (err, key) => {
      if (err === null) resolve(key);
      else reject(err);
    });
  });
}

/** A new password hash with a random salt. */
export async function hashPassword(password: string, params: { N: number; r: number; p: number } = SCRYPT_DEFAULTS): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, KEY_BYTES, params);
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

/** True when `password` matches `hash`; compares in constant time. Slow on purpose. */
export async function verifyPassword(password: string, hash: ScryptHash): Promise<boolean> {
  const key = await derive(password, hash.salt, hash.hash.length, hash);
  return timingSafeEqual(key, hash.hash);
}

/** The stored form of a bearer token. */
export function hashToken(token: string): string {
  return `sha256$${createHash('sha256').update(token, 'utf8').digest('hex')}`;
}

/** True when `token` hashes to one of `hashes`; each comparison in constant time. */
export function tokenMatches(token: string, hashes: readonly string[]): boolean {
  const presented = Buffer.from(hashToken(token), 'latin1');
  let found = false;
  for (const h of hashes) {
    const stored = Buffer.from(h, 'latin1');
    if (stored.length === presented.length && timingSafeEqual(stored, presented)) found = true;
  }
  return found;
}

/** An address range: one address (`10.0.0.1`, `::1`) or a CIDR block (`10.0.0.0/8`, `2001:db8::/32`). */
export interface AddressRange {
  address: string;
  family: 'ipv4' | 'ipv6';
  prefix: number;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const HEXTET = /^[0-9a-fA-F]{1,4}$/;

function isIPv6(text: string): boolean {
  let groups = text;
  let words = 0;
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.')) {
    if (!IPV4.test(text.slice(lastColon + 1))) return false;
    groups = `${text.slice(0, lastColon + 1)}0`;
    words = 1; // the dotted tail stands for two words; '0' counts one of them
  }
  const halves = groups.split('::');
  if (halves.length > 2) return false;
  const parts = halves.map((h) => (h === '' ? [] : h.split(':')));
  if (!parts.every((p) => p.every((g) => HEXTET.test(g)))) return false;
  words += parts.reduce((n, p) => n + p.length, 0);
  return halves.length === 2 ? words <= 7 : words === 8;
}

/** Parses an address range; undefined when malformed. */
export function parseAddressRange(text: unknown): AddressRange | undefined {
  if (typeof text !== 'string' || text.length > 64) return undefined;
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const family = IPV4.test(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
  if (family === undefined) return undefined;
  const max = family === 'ipv4' ? 32 : 128;
  if (slash < 0) return { address, family, prefix: max };
  const bits = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) return undefined;
  return { address, family, prefix: Number(bits) };
}
