/**
 * What a super node that just started keeps closed, said plainly, one warning each with what to do:
 * an API without keys (every model call is 401), no admin token (HTTP registration and the admin
 * endpoints are off), and a control port in clear on an address other machines can reach.
 */
import type { Logger } from '../../log.js';
import type { ServerConfig } from '../config.js';

/** One warning: the `msg` of its log line and how to open what is closed. */
export interface StartWarning {
  msg: string;
  fix: string;
}

/** True for addresses only this machine reaches: 127.0.0.0/8, ::1 (IPv4-mapped too), localhost. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^::ffff:/, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** The warnings for `config`, with `storedKeys` the records of the key store (keys.json). */
export function startWarnings(config: ServerConfig, storedKeys: readonly { revokedAt: string | null }[]): StartWarning[] {
  const out: StartWarning[] = [];
  const working = config.api.keys.length + storedKeys.filter((k) => k.revokedAt === null).length;
  if (!config.api.open && working === 0) {
    out.push({
      msg: 'the API has no keys: every /v1 and /api call will be 401',
      fix: "add one with 'proxima-server keys add NAME -c server.yaml' (taken while the server runs), or list keys under api.keys in server.yaml; api.open: true lets anyone in",
    });
  }
  if (config.admin.token === undefined) {
    out.push({
      msg:
        config.registration.mode === 'open'
          ? 'no admin token: the admin endpoints (/nodes list and revoke, /keys, /rewards) are off'
          : 'no admin token: registration over HTTP and the admin endpoints (/nodes, /keys, /rewards) are off',
      fix: "set admin.tokenFile (a file with one line of at least 16 characters) or admin.token in server.yaml; 'proxima-server nodes add NAME' works without it",
    });
  }
  const { host } = config.control.listen;
  if (config.control.tls === undefined && !isLoopback(host)) {
    out.push({
      msg: `control TLS is off on ${host}: logins are HMAC proofs, but the traffic between the nodes and the super node is in clear`,
      fix: "set control.tls: { cert, key } in server.yaml and tls: true (or tls: { ca }) in each client.yaml; see 'TLS on the control port' in docs/operations.md",
    });
  }
  return out;
}

/** Logs each warning at warn level. */
export function logStartWarnings(logger: Logger, config: ServerConfig, storedKeys: readonly { revokedAt: string | null }[]): void {
  for (const { msg, fix } of startWarnings(config, storedKeys)) logger.warn(msg, { fix });
}
