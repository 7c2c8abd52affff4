/**
 * Which tenant a Host names: `<node>.<domain>` is the node's default service,
 * `<service>--<node>.<domain>` a named one; the bare domain, `api.<domain>` and every host outside
 * the domain (an IP address, another name) are the super node's own API.
 */
import { ErrorCodes, ProximaError } from '../../errors.js';
import type { ServiceAdvert } from '../../proto/control/messages.js';
import { labelProblem } from '../../proto/names.js';
import type { LiveNode, NodeDirectory } from '../node-directory.js';

/** Where a request goes, by its Host alone. */
export type HostRoute =
  | { kind: 'api' }
  /** `service` is undefined for the node's default service. */
  | { kind: 'node'; node: string; service: string | undefined }
  /** Under the domain, but no node could have that name (`a.b.<domain>`, `-x.<domain>`). */
  | { kind: 'unknown' };

/** The separator between service and node in a label: names may not contain it. */
const SERVICE_SEPARATOR = '--';

/** Routes a lower-cased hostname (no port, no trailing dot); undefined (no Host) goes to the API. */
export function routeHost(hostname: string | undefined, domain: string): HostRoute {
  if (hostname === undefined || hostname === domain || hostname === `api.${domain}`) return { kind: 'api' };
  if (!hostname.endsWith(`.${domain}`)) return { kind: 'api' };
  const label = hostname.slice(0, hostname.length - domain.length - 1);
  const cut = label.indexOf(SERVICE_SEPARATOR);
  const node = cut < 0 ? label : label.slice(cut + SERVICE_SEPARATOR.length);
  const service = cut < 0 ? undefined : label.slice(0, cut);
  if (labelProblem(node) !== undefined || (service !== undefined && labelProblem(service) !== undefined)) return { kind: 'unknown' };
  return { kind: 'node', node, service };
}

/** A node's service that a public connection is bound to. */
export interface Tenant {
  node: LiveNode;
  service: ServiceAdvert;
}

/**
 * The live node and service a route names. Throws PRX_ERR_UNKNOWN_HOST (no such node),
 * PRX_ERR_NODE_OFFLINE (registered, not connected) or PRX_ERR_SERVICE_UNKNOWN.
 */
export function resolveTenant(route: HostRoute, directory: NodeDirectory, host: string | undefined): Tenant {
  if (route.kind !== 'node') throw new ProximaError(ErrorCodes.UNKNOWN_HOST, `no node answers to ${host ?? 'this host'}`);
  const node = directory.live(route.node);
  if (node === undefined) {
    if (directory.isRegistered(route.node)) throw new ProximaError(ErrorCodes.NODE_OFFLINE, `node ${route.node} is offline`);
    throw new ProximaError(ErrorCodes.UNKNOWN_HOST, `no node answers to ${host ?? route.node}`);
  }
  const service = route.service === undefined ? node.services[0] : node.services.find((s) => s.name === route.service);
  if (service === undefined) {
    const what = route.service === undefined ? 'no service' : `no service ${route.service}`;
    throw new ProximaError(ErrorCodes.SERVICE_UNKNOWN, `node ${route.node} has ${what}`);
  }
  return { node, service };
}

/** True when `route` names exactly this tenant's node and service (the default one by its name too). */
export function sameTenant(route: HostRoute, tenant: Tenant): boolean {
  if (route.kind !== 'node' || route.node !== tenant.node.name) return false;
  return (route.service ?? tenant.node.services[0]?.name) === tenant.service.name;
}
