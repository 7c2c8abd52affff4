/**
 * Who may reach what: lists of addresses and CIDR ranges (`10.0.0.0/8`, `::1`, `2001:db8::/32`) as
 * both config files and the super node use them (a service's `auth.allow` and `auth.deny`, the
 * server's `http.trustProxy`), and a service's `expose` and `auth` in client.yaml. Matching is
 * node:net's BlockList, which also matches an IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, what a
 * dual-stack socket reports) against IPv4 ranges.
 */
import net from 'node:net';
import { ErrorCodes, ProximaError } from '../errors.js';
import {
  AUTH_LIMITS,
  BASIC_USER,
  type BasicUser,
  EXPOSURES,
  type Exposure,
  isTokenHash,
  parseAddressRange,
  parseScryptHash,
  type ServiceAuth,
} from '../proto/service-access.js';
import { fail, isSet, type KeyRules, list, map, object, oneOf, optional, type Schema, scalar, string } from './schema.js';

/** `127.0.0.0/8` and `::1`: what `trustProxy: true` means. */
export const LOOPBACK_RANGES: readonly string[] = ['127.0.0.0/8', '::1'];

/** A set of address ranges; `has(address)` is false for anything that is not an IP address. */
export class AddressList {
  readonly ranges: readonly string[];
  readonly #blocks = new net.BlockList();

  /** Throws PRX_ERR_MESSAGE_INVALID naming the first range that does not parse. */
  constructor(ranges: readonly string[]) {
    this.ranges = ranges;
    for (const text of ranges) {
      const range = parseAddressRange(text);
      if (range === undefined) throw new ProximaError(ErrorCodes.MESSAGE_INVALID, `not an address or CIDR range: ${JSON.stringify(text)}`);
      this.#blocks.addSubnet(range.address, range.prefix, range.family);
    }
  }

  has(address: string): boolean {
    if (this.ranges.length === 0) return false;
    const family = net.isIP(address);
    return family !== 0 && this.#blocks.check(address, family === 4 ? 'ipv4' : 'ipv6');
  }
}

/** `http.trustProxy`: false, true (loopback only) or the proxies' addresses and ranges. */
export type TrustProxySetting = boolean | readonly string[];

/** The peers whose X-Forwarded-* are believed, for a `trustProxy` setting. */
export function trustedProxies(setting: TrustProxySetting): AddressList {
  return new AddressList(setting === false ? [] : setting === true ? LOOPBACK_RANGES : setting);
}

/** One address or CIDR range, as text. */
export function addressRange(): Schema<string> {
  return scalar('an address or CIDR range', (v) =>
    parseAddressRange(v) === undefined ? 'must be an IP address or a CIDR range, e.g. 192.168.0.0/16 or 2001:db8::/32' : undefined,
  );
}

/** A list of 1 to `maxItems` items. */
function boundedList<T>(item: Schema<T>, maxItems: number): Schema<T[]> {
  const items = list(item, 1);
  return {
    ...items,
    check(value, at, ctx) {
      if (Array.isArray(value) && value.length > maxItems) return fail(ctx, at, `must list at most ${maxItems} items`);
      return items.check(value, at, ctx);
    },
  };
}

/** A list of addresses or CIDR ranges, at least one. */
export function addressRanges(maxItems: number = AUTH_LIMITS.ranges): Schema<string[]> {
  return boundedList(addressRange(), maxItems);
}

const HASH_COMMAND = 'proxima-client hash-password';
const TOKEN_COMMAND = 'proxima-client hash-token';

const basicUser: Schema<BasicUser> = map(
  object(
    {
      user: string({ pattern: BASIC_USER, hint: '1 to 64 visible characters, no ":"' }),
      passwordHash: scalar<string>('a password hash', (v) =>
        parseScryptHash(v) === undefined ? `must be a hash printed by \`${HASH_COMMAND}\` (scrypt$N$r$p$salt$hash)` : undefined,
      ),
      password: optional(string()),
    },
    (raw, report) => {
      if (isSet(raw, 'password'))
        report('password', `a plain password is refused: put the hash \`${HASH_COMMAND}\` prints in passwordHash`);
    },
  ),
  ({ user, passwordHash }) => ({ user, passwordHash }),
);

const tokenHash = scalar<string>('a token hash', (v) =>
  isTokenHash(v) ? undefined : `must be a hash printed by \`${TOKEN_COMMAND}\` (sha256$<64 hex>); a plain token is refused`,
);

/** A service's `auth`: Basic users, bearer token hashes, allowed and denied ranges; at least one. */
export const serviceAuth: Schema<ServiceAuth> = map(
  object({
    basic: optional(boundedList(basicUser, AUTH_LIMITS.users)),
    bearer: optional(boundedList(tokenHash, AUTH_LIMITS.tokens)),
    allow: optional(addressRanges()),
    deny: optional(addressRanges()),
  }),
  (auth, at, ctx) => {
    const set = Object.fromEntries(Object.entries(auth).filter(([, v]) => v !== undefined)) as ServiceAuth;
    return Object.keys(set).length > 0 ? set : fail(ctx, at, 'must set at least one of basic, bearer, allow, deny');
  },
);

/** A service's `expose`. */
export const exposure: Schema<Exposure> = oneOf(EXPOSURES);

/**
 * The rules between `expose` and `auth` of a service (on its raw mapping): `auth` without `expose`
 * means protected; `protected` needs `auth`; `auth` with `network` or `public` is a mistake.
 */
export const exposureRules: KeyRules = (raw, report) => {
  const hasAuth = isSet(raw, 'auth');
  if (raw.expose === 'protected' && !hasAuth) report('expose', 'protected needs auth (basic, bearer, allow or deny)');
  if (raw.expose === 'network' && hasAuth)
    report('auth', "not allowed with expose: network (the network's API has its own keys); use expose: protected");
  if (raw.expose === 'public' && hasAuth) report('auth', 'not allowed with expose: public (anyone may call); use expose: protected');
};
