/**
 * The `expose` and `auth` fields of a service in an `advertise` message, checked as strictly as
 * client.yaml is: known shapes only, bounded counts and lengths, hashes the super node can verify
 * at a bounded cost. A node that states no exposure (one older than these fields) gets its kind's
 * default, so an old node's Ollama is not opened to the public by an upgrade of the super node.
 */
import { ErrorCodes, ProximaError } from '../../errors.js';
import {
  AUTH_LIMITS,
  BASIC_USER,
  type BasicUser,
  defaultExposure,
  EXPOSURES,
  type Exposure,
  isTokenHash,
  parseAddressRange,
  parseScryptHash,
  type ServiceAuth,
} from '../service-access.js';

function invalid(at: string, rule: string): ProximaError {
  return new ProximaError(ErrorCodes.MESSAGE_INVALID, `advertise message: ${at} ${rule}`);
}

function boundedList(v: unknown, at: string, max: number): unknown[] {
  if (!Array.isArray(v) || v.length === 0 || v.length > max) throw invalid(at, `must be a list of 1 to ${max}`);
  return v;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function parseUser(v: unknown, at: string): BasicUser {
  if (!isObject(v)) throw invalid(at, 'must be an object');
  if (typeof v.user !== 'string' || !BASIC_USER.test(v.user)) throw invalid(`${at}.user`, 'must be 1 to 64 visible characters, no ":"');
  if (parseScryptHash(v.passwordHash) === undefined) throw invalid(`${at}.passwordHash`, 'must be scrypt$N$r$p$salt$hash');
  return { user: v.user, passwordHash: v.passwordHash as string };
}

function parseRanges(v: unknown, at: string): string[] {
  return boundedList(v, at, AUTH_LIMITS.ranges).map((r, i) => {
    if (parseAddressRange(r) === undefined) throw invalid(`${at}[${i}]`, 'must be an address or CIDR range');
    return r as string;
  });
}

/** The `auth` of a service at `at` (`services[2].auth`). */
export function parseAuthAdvert(v: unknown, at: string): ServiceAuth {
  if (!isObject(v)) throw invalid(at, 'must be an object');
  const auth: ServiceAuth = {};
  if (v.basic !== undefined)
    auth.basic = boundedList(v.basic, `${at}.basic`, AUTH_LIMITS.users).map((u, i) => parseUser(u, `${at}.basic[${i}]`));
  if (v.bearer !== undefined) {
    auth.bearer = boundedList(v.bearer, `${at}.bearer`, AUTH_LIMITS.tokens).map((h, i) => {
      if (!isTokenHash(h)) throw invalid(`${at}.bearer[${i}]`, 'must be sha256$<64 hex>');
      return h;
    });
  }
  if (v.allow !== undefined) auth.allow = parseRanges(v.allow, `${at}.allow`);
  if (v.deny !== undefined) auth.deny = parseRanges(v.deny, `${at}.deny`);
  if (Object.keys(auth).length === 0) throw invalid(at, 'must set basic, bearer, allow or deny');
  return auth;
}

/** The exposure and auth of the raw service `s` at `at` (`services[2]`); `auth` only with `protected`. */
export function parseAccessAdvert(
  s: Record<string, unknown>,
  kind: 'http' | 'ollama',
  at: string,
): { expose: Exposure; auth?: ServiceAuth } {
  const expose = s.expose === undefined ? defaultExposure(kind) : s.expose;
  if (!EXPOSURES.includes(expose as Exposure)) throw invalid(`${at}.expose`, 'must be "network", "public" or "protected"');
  if (expose !== 'protected') {
    if (s.auth !== undefined) throw invalid(`${at}.auth`, 'is only allowed with expose "protected"');
    return { expose: expose as Exposure };
  }
  if (s.auth === undefined) throw invalid(`${at}.auth`, 'is required with expose "protected"');
  return { expose, auth: parseAuthAdvert(s.auth, `${at}.auth`) };
}
