/**
 * Where each request of a public connection goes: a node's service or the super node's API. A
 * direct client's connection is bound by its first request: every later one must name the same
 * upstream (else 421), so that no connection, once bound, reaches another tenant's node or the API.
 * Behind a trusted proxy (nginx pools its upstream connections and sends any Host on any of them)
 * the connection switches instead: each request goes where its own Host says.
 */
import { ErrorCodes, ProximaError } from '../../errors.js';
import type { RequestHead } from '../../proto/http/request-head.js';
import type { ServiceGate } from '../access/service-gate.js';
import type { NodeDirectory, SocketPeer } from '../node-directory.js';
import type { PageContext } from './error-page.js';
import { remotePeer } from './forwarded-headers.js';
import { type HostRoute, resolveTenant, routeHost, sameTenant, type Tenant } from './host-route.js';

/** Where a request goes: a node's service, or the super node's own API. */
export type Upstream = Tenant | 'api';

/** Routes the requests of one connection; see the file comment. */
export class TenantBinding {
  /** The upstream of the last request routed. */
  #last: Upstream | undefined;
  /** The Host that bound the connection (421 pages name it). */
  #boundHost: string | undefined;

  /** `switching`: may requests of one connection go to different upstreams (trustProxy)? */
  readonly #switching: boolean;
  readonly #directory: NodeDirectory;
  readonly #domain: string;

  readonly #gate: ServiceGate;
  readonly #peer: SocketPeer;
  /** Told when a held request's credential has been checked: `err` is the refusal, if any. */
  readonly #admitted: (err: unknown, head: RequestHead) => void;
  /** A request is held while its credential is checked. */
  #admitting = false;

  /** `switching`: the peer is a trusted proxy (its X-Forwarded-For names the client, for `admit` too). */
  constructor(
    s: { domain: string; directory: NodeDirectory; gate: ServiceGate },
    switching: boolean,
    peer: SocketPeer,
    admitted: (err: unknown, head: RequestHead) => void,
  ) {
    this.#switching = switching;
    this.#directory = s.directory;
    this.#domain = s.domain;
    this.#gate = s.gate;
    this.#peer = peer;
    this.#admitted = admitted;
  }

  /**
   * Whether `head` may go to `upstream` now (the ServiceGate: exposure, addresses, credentials).
   * False while a password is checked: the request is held, and `admitted` is told the outcome.
   * Throws the refusal when it is known at once.
   */
  admit(upstream: Upstream, head: RequestHead): boolean {
    if (this.#admitting) return false;
    if (upstream === 'api') return true;
    // The service as its node advertises it now: a keep-alive connection must not keep the exposure
    // and credentials of the advert it was opened under (an operator who closes a door closes it now).
    const { service } = refreshUpstream(upstream, this.#directory) as Exclude<Upstream, 'api'>;
    const verdict = this.#gate.check(service, head, remotePeer(head, this.#peer, this.#switching).address);
    if (verdict === true) return true;
    this.#admitting = true;
    const settle = (err: unknown): void => {
      this.#admitting = false;
      this.#admitted(err, head);
    };
    verdict.then(() => settle(undefined), settle);
    return false;
  }

  /**
   * The upstream `head` goes to: the very object returned for the request before when it names
   * the same one (a node's session is looked up when the upstream changes, not on every request).
   * Throws PRX_ERR_UNKNOWN_HOST, _NODE_OFFLINE or _SERVICE_UNKNOWN when no tenant answers, and
   * without switching PRX_ERR_HTTP_MISDIRECTED for a request that is not for the bound upstream.
   */
  route(head: RequestHead): Upstream {
    const route = routeHost(head.hostname, this.#domain);
    const last = this.#last;
    if (last !== undefined) {
      if (last === 'api' ? route.kind === 'api' : sameTenant(route, last)) return last;
      if (!this.#switching)
        throw new ProximaError(ErrorCodes.HTTP_MISDIRECTED, `a request for ${head.host} on a connection for ${this.#boundHost}`);
    }
    const next: Upstream = route.kind === 'api' ? 'api' : resolveTenant(route, this.#directory, head.host);
    this.#last = next;
    this.#boundHost = next === 'api' ? `the API (${this.#domain})` : head.host;
    return next;
  }

  /** What an error page answering `head`, or else the request awaited from `upstream`, may name. */
  pageContext(head: RequestHead | undefined, upstream: Upstream | undefined): PageContext {
    const route = head === undefined ? undefined : routeHost(head.hostname, this.#domain);
    const named = route?.kind === 'node' ? route : undefined;
    const tenant = upstream === 'api' ? undefined : upstream;
    return {
      host: head?.host ?? this.#boundHost,
      node: named?.node ?? tenant?.node.name,
      service: named === undefined ? tenant?.service.name : named.service,
      boundHost: this.#boundHost,
    };
  }
}

/** True when both name the API, or the same node and service. */
export function sameUpstream(a: Upstream, b: Upstream): boolean {
  if (a === b) return true;
  if (a === 'api' || b === 'api') return false;
  return a.node.name === b.node.name && a.service.name === b.service.name;
}

/**
 * `upstream` as the directory has it now: a node that reconnected has a new session. Throws as
 * `route` does when the node or its service is gone.
 */
export function refreshUpstream(upstream: Upstream, directory: NodeDirectory): Upstream {
  if (upstream === 'api') return upstream;
  const route: HostRoute = { kind: 'node', node: upstream.node.name, service: upstream.service.name };
  return resolveTenant(route, directory, undefined);
}
