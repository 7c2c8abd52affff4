/**
 * Where each of the node's services can be reached, from what the super node said in `welcome`:
 * the default service at `publicUrl`, each service at `serviceUrlTemplate` with its name filled in,
 * and a service exposed to the network only (403 on its hostname) through the network's API.
 */
import type { WelcomeMessage } from '../../proto/control/messages.js';
import { exposureOf } from '../../proto/service-access.js';
import type { ServiceConfig } from '../config.js';

/** One service as the operator sees it. */
export interface ServiceUrls {
  name: string;
  kind: 'http' | 'ollama';
  expose: 'public' | 'protected' | 'network';
  /** The URLs that reach it (empty for a service exposed to the network only). */
  urls: string[];
  /** How else it is reached, for a service exposed to the network only. */
  note?: string;
}

/** The URLs of `services` (the first is the node's default), as `welcome` tells them. */
export function serviceUrls(
  welcome: Pick<WelcomeMessage, 'publicUrl' | 'apiUrl' | 'serviceUrlTemplate'>,
  services: readonly ServiceConfig[],
): ServiceUrls[] {
  return services.map((s, i) => {
    const expose = exposureOf({ kind: s.kind, expose: s.expose });
    if (expose === 'network') {
      const api = welcome.apiUrl === undefined ? "the network's API" : `the API at ${welcome.apiUrl}`;
      return { name: s.name, kind: s.kind, expose, urls: [], note: `reachable only through ${api}` };
    }
    const urls = i === 0 ? [welcome.publicUrl] : [];
    if (welcome.serviceUrlTemplate !== undefined) urls.push(welcome.serviceUrlTemplate.replace('{service}', s.name));
    return { name: s.name, kind: s.kind, expose, urls, ...(urls.length === 0 ? { note: 'this super node does not say its URL' } : {}) };
  });
}

/** The lines `proxima-client` prints once online: one per service, then the network's API. */
export function urlLines(
  welcome: Pick<WelcomeMessage, 'publicUrl' | 'apiUrl' | 'serviceUrlTemplate'>,
  services: readonly ServiceConfig[],
): string[] {
  const lines = serviceUrls(welcome, services).map(
    (s) => `service ${s.name} (${s.kind}, ${s.expose}): ${s.urls.length > 0 ? s.urls.join(' and ') : s.note}`,
  );
  if (welcome.apiUrl !== undefined) lines.push(`the network's API: ${welcome.apiUrl}`);
  return lines;
}
