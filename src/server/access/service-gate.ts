/**
 * The door of every tenant host: before a request head goes to a node, its service's exposure and
 * auth (as the node advertised them) say whether it may. `network`: refused, the service is the
 * network's API's alone (403 PRX_ERR_SERVICE_NOT_PUBLIC). `protected`: the client's address must
 * pass `deny` and `allow` (else 403), then, when the service has credentials, `Authorization` must
 * carry one of them (else 401 with a challenge). Every request is checked, on keep-alive
 * connections and WebSocket upgrades alike; the credential is removed before the head is forwarded.
 * Wrong credentials count against the client's address (auth-throttle.ts): past the limit the address
 * gets 429 with Retry-After before its credential is looked at, so one address cannot fill the
 * password checks' queue and lock out everyone's right passwords.
 */
import { AddressList } from '../../config/access.js';
import { ErrorCodes, ProximaError } from '../../errors.js';
import type { ServiceAdvert } from '../../proto/control/messages.js';
import type { RequestHead } from '../../proto/http/request-head.js';
import { exposureOf, type ServiceAuth, tokenMatches } from '../../proto/service-access.js';
import { AuthThrottle, admit } from '../api-host/auth-throttle.js';
import { PasswordChecks } from './password-checks.js';

/** A 401 with the `WWW-Authenticate` challenge its page carries. */
export class ChallengeError extends ProximaError {
  readonly challenge: string;

  constructor(challenge: string, message: string) {
    super(ErrorCodes.UNAUTHORIZED, message);
    this.challenge = challenge;
  }
}

/** The address lists of one advertised auth, built once. */
interface Ranges {
  allow: AddressList | undefined;
  deny: AddressList | undefined;
}

/** True when requests to `service` carry a credential meant for the super node: it is removed before forwarding. */
export function takesCredentials(service: ServiceAdvert): boolean {
  return service.auth?.basic !== undefined || service.auth?.bearer !== undefined;
}

/** Checks requests against their service's exposure and auth; one per public listener. */
export class ServiceGate {
  readonly passwords: PasswordChecks;
  readonly #ranges = new WeakMap<ServiceAuth, Ranges>();

  readonly #throttle: AuthThrottle;

  constructor(passwords: PasswordChecks = new PasswordChecks(), throttle: AuthThrottle = new AuthThrottle()) {
    this.passwords = passwords;
    this.#throttle = throttle;
  }

  /**
   * True when `head` may go to `service` now; a promise when a password is being checked (it
   * resolves when it may, and rejects with the refusal). Throws the refusal when it is known at
   * once. `clientAddress`: the user's, as `http.trustProxy` yields it; `host`: the realm.
   */
  check(service: ServiceAdvert, head: RequestHead, clientAddress: string): true | Promise<void> {
    const exposure = exposureOf(service);
    if (exposure === 'public') return true;
    if (exposure === 'network')
      throw new ProximaError(ErrorCodes.SERVICE_NOT_PUBLIC, `service ${service.name} is reachable only through the network's API`);
    const auth = service.auth ?? {};
    const { allow, deny } = this.#rangesOf(auth);
    if (deny?.has(clientAddress) === true || (allow !== undefined && !allow.has(clientAddress)))
      throw new ProximaError(ErrorCodes.FORBIDDEN, `${clientAddress} may not reach service ${service.name}`);
    if (!takesCredentials(service)) return true;
    // A request without a credential is a browser's first, answered with the challenge: no failure.
    if (head.get('authorization') === undefined) return this.#checkCredential(auth, head);
    admit(this.#throttle, clientAddress, 'credentials');
    const counted = (err: unknown): never => {
      if (err instanceof ChallengeError) this.#throttle.fail(clientAddress);
      throw err;
    };
    try {
      const verdict = this.#checkCredential(auth, head);
      return verdict === true ? true : verdict.catch(counted);
    } catch (err) {
      return counted(err);
    }
  }

  #checkCredential(auth: ServiceAuth, head: RequestHead): true | Promise<void> {
    const refusal = (): ChallengeError => challenge(auth, head.host ?? '');
    const presented = head.get('authorization');
    if (presented === undefined || head.fields.count('authorization') !== 1) throw refusal();
    const space = presented.indexOf(' ');
    const scheme = presented.slice(0, space).toLowerCase();
    const value = presented.slice(space + 1).trim();
    if (space > 0 && scheme === 'bearer' && auth.bearer !== undefined) {
      if (tokenMatches(value, auth.bearer)) return true;
      throw refusal();
    }
    if (space <= 0 || scheme !== 'basic' || auth.basic === undefined || value.length > 1024) throw refusal();
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw refusal();
    const name = decoded.slice(0, colon);
    const user = auth.basic.find((u) => u.user === name);
    // An unknown user costs a check against a known user's hash, as a wrong password would (always
    // refused: the user part of the verdict's key is one no real user has): timing tells no names apart.
    const verdict =
      user === undefined
        ? this.passwords.check(auth.basic[0]!.passwordHash, `\0${name}`, decoded.slice(colon + 1))
        : this.passwords.check(user.passwordHash, user.user, decoded.slice(colon + 1));
    if (typeof verdict === 'boolean') {
      if (verdict && user !== undefined) return true;
      throw refusal();
    }
    return verdict.then((ok) => {
      if (!ok || user === undefined) throw refusal();
    });
  }

  #rangesOf(auth: ServiceAuth): Ranges {
    let ranges = this.#ranges.get(auth);
    if (ranges === undefined) {
      ranges = {
        allow: auth.allow === undefined ? undefined : new AddressList(auth.allow),
        deny: auth.deny === undefined ? undefined : new AddressList(auth.deny),
      };
      this.#ranges.set(auth, ranges);
    }
    return ranges;
  }
}

/** The 401 for `auth`: a Basic challenge when it has users (browsers then ask), else a Bearer one. */
function challenge(auth: ServiceAuth, host: string): ChallengeError {
  // The host was validated by the head parser; quotes and backslashes cannot occur in it.
  const realm = `realm="${host}"`;
  const value = auth.basic !== undefined ? `Basic ${realm}, charset="UTF-8"` : `Bearer ${realm}`;
  return new ChallengeError(value, 'a valid credential is required');
}
