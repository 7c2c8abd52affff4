/**
 * CORS for browser clients of the model API (`/v1`, `/api`): `api.cors.origins` in server.yaml, off
 * when empty. A preflight (`OPTIONS` with `Access-Control-Request-Method`) is answered here, before
 * any part sees it, so it never needs an API key and never counts as a failed one. A real request
 * from an allowed origin gets `Access-Control-Allow-Origin` and the headers a script may read, on
 * answers and errors alike (they are set before the part writes its head). The admin parts (`/nodes`,
 * `/keys`, rewards) get none: a web page has no business holding an admin token.
 */

import { list, map, type Schema, scalar, section, union, withDefault } from '../../config/schema.js';
import type { HttpResponse } from '../../http/exchange.js';
import type { ApiPart } from './api-router.js';

/** `api.cors`: the origins allowed, or `'*'` for any; an empty list is off. */
export interface CorsConfig {
  origins: '*' | string[];
}

/** `scheme://host[:port]`, as a browser sends `Origin`: no path, no trailing slash, no user. */
const ORIGIN = /^[a-z][a-z0-9+.-]*:\/\/(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:\d{1,5})?$/;

const origin = map(
  scalar<string>('an origin', (v) => {
    if (typeof v !== 'string') return 'must be a string';
    if (v === '*') return "'*' stands alone: origins: '*'";
    return ORIGIN.test(v.toLowerCase()) ? undefined : 'must be an origin, scheme://host[:port] (e.g. https://chat.example.com)';
  }),
  (v) => v.toLowerCase(),
);

const anyOrigin = scalar<'*'>("'*'", (v) => (v === '*' ? undefined : "must be '*' or a list of origins"));

/** The schema of `api.cors`. */
export const corsSection: Schema<CorsConfig> = section({
  origins: withDefault(union([anyOrigin, list(origin)] as const, "'*' or a list of origins"), []) as Schema<'*' | string[]>,
});

/** Methods of the model API. */
const METHODS = 'GET, HEAD, POST';
/** How long a browser may reuse a preflight's answer (Chromium caps it at 2 h). */
export const CORS_MAX_AGE_S = 600;
/** Request headers the API reads, or that the OpenAI, Anthropic and Ollama clients send. */
const ALLOWED_HEADERS = new Set(['accept', 'authorization', 'content-type', 'idempotency-key', 'user-agent', 'x-api-key', 'x-request-id']);
const ALLOWED_PREFIXES = ['x-stainless-', 'anthropic-', 'openai-'];
/**
 * What a script may read besides the safelisted headers. `*` exposes every header to requests
 * without credentials (ours carry keys in headers, never cookies); the names are for browsers that
 * predate the wildcard, and `x-proxima-*` cannot be written as a pattern.
 */
const EXPOSED = '*, x-request-id, proxima-error, retry-after, x-proxima-node, x-proxima-model';

function headerAllowed(name: string): boolean {
  return ALLOWED_HEADERS.has(name) || ALLOWED_PREFIXES.some((p) => name.startsWith(p));
}

/** The requested headers (`Access-Control-Request-Headers`) that are allowed, lower-case. */
export function allowedRequestHeaders(requested: string | undefined): string[] {
  if (requested === undefined) return [];
  return requested
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .filter((h) => h !== '' && headerAllowed(h));
}

/** Wraps `part` (the model API) with CORS for paths under `prefixes`; `part` itself when CORS is off. */
export function withCors(part: ApiPart, cors: CorsConfig, prefixes: readonly string[]): ApiPart {
  const { origins } = cors;
  if (origins !== '*' && origins.length === 0) return part;
  const allowed = origins === '*' ? undefined : new Set(origins);
  return async (req, res, clientAddress) => {
    const path = (req.url ?? '/').split('?', 1)[0]!;
    if (!prefixes.some((p) => path === p || path.startsWith(`${p}/`))) return part(req, res, clientAddress);
    res.setHeader('vary', 'Origin');
    const from = req.headers.origin;
    const allow = from !== undefined && (allowed === undefined || allowed.has(from.toLowerCase()));
    const preflight = req.method === 'OPTIONS' && from !== undefined && req.headers['access-control-request-method'] !== undefined;
    if (preflight) {
      answerPreflight(res, allow ? (allowed === undefined ? '*' : from) : undefined, req.headers['access-control-request-headers']);
      return true;
    }
    if (allow) {
      res.setHeader('access-control-allow-origin', allowed === undefined ? '*' : from);
      res.setHeader('access-control-expose-headers', EXPOSED);
    }
    return part(req, res, clientAddress);
  };
}

/**
 * 204 to a preflight. From an origin not allowed, it carries no Access-Control-Allow-Origin, and the
 * browser refuses the request itself; a header not allowed is left out, with the same effect.
 */
function answerPreflight(res: HttpResponse, allowOrigin: string | undefined, requested: string | undefined): void {
  const headers: Record<string, string> = { vary: 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers' };
  if (allowOrigin !== undefined) {
    headers['access-control-allow-origin'] = allowOrigin;
    headers['access-control-allow-methods'] = METHODS;
    const headerList = allowedRequestHeaders(requested);
    if (headerList.length > 0) headers['access-control-allow-headers'] = headerList.join(', ');
    headers['access-control-max-age'] = String(CORS_MAX_AGE_S);
  }
  res.writeHead(204, headers);
  res.end();
}
