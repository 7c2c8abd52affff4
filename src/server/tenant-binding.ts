/**
 * The tenant a public connection belongs to. Its first request decides (a node's service, or the
 * API); every later request must name the same node and service, so that no connection, once
 * bound, reaches another tenant's node or the API.
 */
import { ErrorCodes, ProximaError } from '../errors.js';
import type { RequestHead } from '../proto/http-request-head.js';
import type { PageContext } from './error-page.js';
import { resolveTenant, routeHost, sameTenant, type Tenant } from './host-route.js';
import type { NodeDirectory } from './node-directory.js';

/** Binds a connection to a tenant on its first request and checks the rest against it. */
export class TenantBinding {
  /** The tenant, once the first request has named one. */
  tenant: Tenant | undefined;
  /** The Host of the first request. */
  boundHost: string | undefined;

  constructor(private readonly domain: string, private readonly directory: NodeDirectory) {}

  /**
   * The tenant `head` goes to, or 'api' when a first request is for the super node's own API.
   * Throws PRX_ERR_UNKNOWN_HOST, _NODE_OFFLINE or _SERVICE_UNKNOWN for a first request no
   * tenant answers, PRX_ERR_HTTP_MISDIRECTED for a later one that is not for the bound tenant.
   */
  bind(head: RequestHead): Tenant | 'api' {
    const route = routeHost(head.hostname, this.domain);
    if (this.tenant === undefined) {
      if (route.kind === 'api') return 'api';
      this.tenant = resolveTenant(route, this.directory, head.host);
      this.boundHost = head.host;
    } else if (!sameTenant(route, this.tenant)) {
      throw new ProximaError(ErrorCodes.HTTP_MISDIRECTED, `a request for ${head.host} on a connection for ${this.boundHost}`);
    }
    return this.tenant;
  }

  /** The bound tenant as the directory has it now; throws as `bind` does when it is gone. */
  current(): Tenant {
    const { node, service } = this.tenant!;
    return resolveTenant({ kind: 'node', node: node.name, service: service.name }, this.directory, this.boundHost);
  }

  /** What an error page answering `head` (or the request awaited, without one) may name. */
  pageContext(head?: RequestHead): PageContext {
    const route = head === undefined ? undefined : routeHost(head.hostname, this.domain);
    const named = route?.kind === 'node' ? route : undefined;
    return {
      host: head?.host ?? this.boundHost,
      node: named?.node ?? this.tenant?.node.name,
      service: named === undefined ? this.tenant?.service.name : named.service,
      boundHost: this.boundHost,
    };
  }
}
