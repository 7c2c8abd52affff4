/**
 * The registration API on the super node's API host:
 *   POST   /nodes        {"name":"alpha"} -> 201 {"name","keyId","token","createdAt"}
 *   GET    /nodes        -> 200 {"nodes":[{"name","keyId","createdAt","lastSeenAt","services", and with presence:
 *                          "online","connectedAt","address","clientVersion","models"}]}
 *   DELETE /nodes/NAME   -> 204
 * Listing and deleting need the admin bearer token. Registering needs it too in 'admin' mode; in
 * 'open' mode anyone may register, rate limited per client address.
 */

import { ErrorCodes, ProximaError } from '../../errors.js';
import type { HttpRequest, HttpResponse } from '../../http/exchange.js';
import { type Logger, silentLogger } from '../../log.js';
import { constantTimeEqual } from '../../proto/control/auth.js';
import { SECOND_MS } from '../../time.js';
import { type AuthThrottle, admit, failed } from '../api-host/auth-throttle.js';
import { bearerToken, readJsonBody, sendError, sendJson } from '../api-host/http-json.js';
import { RateLimiter } from '../api-host/rate-limiter.js';
import type { NodeRecord } from './node-store.js';
import type { Registry } from './registry.js';

/** Who may register. */
export type RegistrationMode = 'admin' | 'open';

/** How the API behaves. */
export interface NodesApiOptions {
  registry: Pick<Registry, 'add' | 'list' | 'revoke'>;
  mode: RegistrationMode;
  /** The admin bearer token; without one, nobody can list or delete (and 'admin' mode is refused). */
  adminToken?: string;
  /** Open registrations allowed per client address per minute (also the burst). */
  openRatePerMinute?: number;
  /** How many client addresses the rate limiter remembers. */
  maxRateClients?: number;
  maxBodyBytes?: number;
  bodyTimeoutMs?: number;
  /** The clock, in milliseconds. */
  now?: () => number;
  logger?: Logger;
  /** Wrong admin tokens per client address: slowed, then refused (429). */
  authThrottle?: AuthThrottle;
  /** What GET /nodes shows of each record (its status, online or not); the record's public fields by default. */
  describe?: (records: NodeRecord[]) => object[];
}

/** Handles a request if its path is the API's own; resolves false (untouched) otherwise. */
export type NodesApiHandler = (req: HttpRequest, res: HttpResponse, clientAddress: string) => Promise<boolean>;

export const DEFAULT_OPEN_RATE_PER_MINUTE = 5;
export const DEFAULT_MAX_BODY_BYTES = 4096;
export const DEFAULT_BODY_TIMEOUT_MS = 10_000;

type Credential = 'admin' | 'none' | 'wrong';

/** Builds the /nodes handler. PRX_ERR_CONFIG_INVALID for 'admin' mode without an admin token. */
export function createNodesApi(options: NodesApiOptions): NodesApiHandler {
  const { registry, mode, adminToken } = options;
  if (mode === 'admin' && !adminToken) {
    throw new ProximaError(ErrorCodes.CONFIG_INVALID, "registration mode 'admin' needs an admin token");
  }
  const logger = options.logger ?? silentLogger;
  const limits = {
    maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    bodyTimeoutMs: options.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS,
  };
  const limiter = new RateLimiter({
    ratePerMinute: options.openRatePerMinute ?? DEFAULT_OPEN_RATE_PER_MINUTE,
    maxKeys: options.maxRateClients,
    now: options.now,
  });

  /** Who is asking; a wrong token counts against the client's address, whose answer is held back. */
  const credential = async (req: HttpRequest, clientAddress: string): Promise<Credential> => {
    const presented = bearerToken(req);
    if (presented === undefined) return 'none';
    admit(options.authThrottle, clientAddress, 'admin tokens');
    if (presented !== '' && adminToken && constantTimeEqual(presented, adminToken)) return 'admin';
    await failed(options.authThrottle, clientAddress);
    return 'wrong';
  };

  const requireAdmin = async (req: HttpRequest, clientAddress: string): Promise<void> => {
    if ((await credential(req, clientAddress)) !== 'admin')
      throw new ProximaError(ErrorCodes.UNAUTHORIZED, 'this needs the admin bearer token');
  };

  const register = async (req: HttpRequest, res: HttpResponse, clientAddress: string): Promise<void> => {
    const who = await credential(req, clientAddress);
    if (who === 'wrong') throw new ProximaError(ErrorCodes.UNAUTHORIZED, 'the bearer token is not the admin token');
    if (who === 'none' && mode === 'admin') {
      throw new ProximaError(ErrorCodes.FORBIDDEN, 'registration is closed: it needs the admin bearer token');
    }
    if (who === 'none') {
      const decision = limiter.take(clientAddress);
      if (!decision.allowed) {
        const retryAfterSeconds = Math.max(1, Math.ceil(decision.retryAfterMs / SECOND_MS));
        const err = new ProximaError(ErrorCodes.RATE_LIMITED, `too many registrations; retry after ${retryAfterSeconds} s`);
        sendError(res, err, logger, { 'retry-after': String(retryAfterSeconds) });
        return;
      }
    }
    const body = await readJsonBody(req, limits);
    const name = typeof body === 'object' && body !== null ? (body as { name?: unknown }).name : undefined;
    const { record, token } = await registry.add(name as string);
    logger.info('node registered', { node: record.name, client: clientAddress, by: who });
    const answer = { name: record.name, keyId: record.keyId, token, createdAt: record.createdAt };
    sendJson(res, 201, answer, { location: `/nodes/${record.name}` });
  };

  const list = async (req: HttpRequest, res: HttpResponse, clientAddress: string): Promise<void> => {
    await requireAdmin(req, clientAddress);
    const records = await registry.list();
    const nodes = options.describe?.(records) ?? records.map(publicRecord);
    sendJson(res, 200, { nodes });
  };

  const remove = async (req: HttpRequest, res: HttpResponse, name: string, clientAddress: string): Promise<void> => {
    await requireAdmin(req, clientAddress);
    await registry.revoke(name); // the registry logs `node revoked`, whoever revoked it
    sendJson(res, 204, undefined);
  };

  return async (req, res, clientAddress) => {
    const route = matchRoute(req.url ?? '/');
    if (route === undefined) return false;
    try {
      if (route.kind === 'bad') throw new ProximaError(ErrorCodes.HTTP_BAD_REQUEST, 'the node name in the path is not valid');
      if (route.kind === 'collection' && req.method === 'POST') await register(req, res, clientAddress);
      else if (route.kind === 'collection' && req.method === 'GET') await list(req, res, clientAddress);
      else if (route.kind === 'node' && req.method === 'DELETE') await remove(req, res, route.name, clientAddress);
      else notAllowed(res, req.method, route.kind === 'collection' ? 'GET, POST' : 'DELETE', logger);
    } catch (err) {
      sendError(res, err, logger);
    }
    return true;
  };
}

type Route = { kind: 'collection' } | { kind: 'node'; name: string } | { kind: 'bad' };

/** `/nodes` and `/nodes/NAME` are ours; deeper paths (e.g. a later `/nodes/NAME/usage`) are not yet. */
function matchRoute(url: string): Route | undefined {
  const pathname = url.split('?', 1)[0]!;
  if (pathname === '/nodes' || pathname === '/nodes/') return { kind: 'collection' };
  const match = /^\/nodes\/([^/]+)$/.exec(pathname);
  if (match === null) return undefined;
  try {
    return { kind: 'node', name: decodeURIComponent(match[1]!) };
  } catch {
    return { kind: 'bad' };
  }
}

function notAllowed(res: HttpResponse, method: string | undefined, allow: string, logger: Logger): void {
  const err = new ProximaError(ErrorCodes.HTTP_METHOD_NOT_ALLOWED, `${method ?? 'this method'} is not allowed here; use ${allow}`);
  sendError(res, err, logger, { allow });
}

/** The fields of a record the API shows; tokens are never stored, so never shown. */
function publicRecord(record: NodeRecord): Pick<NodeRecord, 'name' | 'keyId' | 'createdAt' | 'lastSeenAt' | 'services'> {
  const { name, keyId, createdAt, lastSeenAt, services } = record;
  return { name, keyId, createdAt, lastSeenAt, services };
}
