/**
 * The API keys on the super node's API host, for the admin (bearer `admin.token`), shaped like `/nodes`:
 *   GET    /keys        -> 200 {"keys":[{id,name,requestsPerMinute,tokensPerMinute,budget,models,nodes,createdAt,revokedAt}]}
 *   POST   /keys        {"name":"alice","tokensPerMinute":10000,...} -> 201 {...the key's fields, "key":"prx-..."}
 *   PATCH  /keys/REF    {"budget":{"credits":5,"per":"day"},"models":null} -> 200 {...}   (null clears a limit)
 *   DELETE /keys/REF    -> 200 {...,"revokedAt":"..."}
 * REF is a key's id or the name of a working key. The clear key is in the answer of POST only.
 */

import { ErrorCodes, ProximaError } from '../../errors.js';
import type { HttpRequest, HttpResponse } from '../../http/exchange.js';
import type { Logger } from '../../log.js';
import { constantTimeEqual } from '../../proto/control/auth.js';
import { type ApiPart, refusingPart } from '../api-host/api-router.js';
import { type AuthThrottle, admit, failed } from '../api-host/auth-throttle.js';
import { bearerToken, readJsonBody, sendError, sendJson } from '../api-host/http-json.js';
import { checkKeyPatch, checkNotConfigured, makeKey, shownKey } from './key-record.js';
import type { KeyStore } from './key-store.js';

/** What the part is built from. */
export interface KeysApiOptions {
  store: KeyStore;
  /** Without one the part refuses every request (403): keys are then managed with `proxima-server keys`. */
  adminToken: string | undefined;
  /** The ids of server.yaml's keys: no stored key may be named like one. */
  configuredIds: readonly string[];
  /** Wrong admin tokens per client address: slowed, then refused (429); shared with /nodes. */
  authThrottle?: AuthThrottle;
  now?: () => number;
  logger: Logger;
}

const LIMITS = { maxBodyBytes: 64 * 1024, bodyTimeoutMs: 10_000 };

/** Builds the `/keys` part of the API router. */
export function createKeysApi(options: KeysApiOptions): ApiPart {
  const { store, adminToken, configuredIds, logger } = options;
  if (adminToken === undefined) {
    const off = new ProximaError(ErrorCodes.FORBIDDEN, 'the key API is off: the super node has no admin.token (use "proxima-server keys")');
    return refusingPart('/keys', off, logger);
  }
  const now = options.now ?? Date.now;

  const serve = async (req: HttpRequest, res: HttpResponse, ref: string | undefined, clientAddress: string): Promise<void> => {
    const presented = bearerToken(req);
    if (presented !== undefined) admit(options.authThrottle, clientAddress, 'admin tokens');
    if (presented === undefined || !constantTimeEqual(presented, adminToken)) {
      if (presented !== undefined) await failed(options.authThrottle, clientAddress);
      throw new ProximaError(ErrorCodes.UNAUTHORIZED, 'this needs the admin bearer token');
    }
    const method = req.method ?? 'GET';
    if (ref === undefined && method === 'GET') {
      sendJson(res, 200, { keys: (await store.list()).map(shownKey) });
    } else if (ref === undefined && method === 'POST') {
      const { name, ...patch } = checkKeyPatch(await readJsonBody(req, LIMITS));
      if (name === undefined) throw new ProximaError(ErrorCodes.HTTP_BAD_REQUEST, 'name: required');
      checkNotConfigured(name, configuredIds);
      const { record, key } = makeKey(name, patch, new Date(now()));
      await store.add(record);
      logger.info('API key added', { keyId: record.id, name });
      sendJson(res, 201, { ...shownKey(record), key }, { location: `/keys/${record.id}` });
    } else if (ref !== undefined && method === 'PATCH') {
      const patch = checkKeyPatch(await readJsonBody(req, LIMITS));
      if (patch.name !== undefined) checkNotConfigured(patch.name, configuredIds);
      const record = await store.update(ref, patch);
      logger.info('API key changed', { keyId: record.id, fields: Object.keys(patch) });
      sendJson(res, 200, shownKey(record));
    } else if (ref !== undefined && method === 'DELETE') {
      const record = await store.revoke(ref, new Date(now()));
      logger.info('API key revoked', { keyId: record.id });
      sendJson(res, 200, shownKey(record));
    } else {
      const allow = ref === undefined ? 'GET, POST' : 'PATCH, DELETE';
      sendError(res, new ProximaError(ErrorCodes.HTTP_METHOD_NOT_ALLOWED, `${method} is not allowed here; use ${allow}`), logger, {
        allow,
      });
    }
  };

  return async (req, res, clientAddress) => {
    const path = (req.url ?? '/').split('?', 1)[0]!;
    if (path !== '/keys' && path !== '/keys/' && !path.startsWith('/keys/')) return false;
    try {
      let ref: string | undefined;
      if (path.length > '/keys/'.length) {
        const raw = path.slice('/keys/'.length);
        try {
          ref = decodeURIComponent(raw);
        } catch {
          ref = '';
        }
        if (ref === '' || ref.includes('/')) throw new ProximaError(ErrorCodes.HTTP_NOT_FOUND, `nothing here: ${path.slice(0, 200)}`);
      }
      await serve(req, res, ref, clientAddress);
    } catch (err) {
      sendError(res, err, logger);
    }
    return true;
  };
}
