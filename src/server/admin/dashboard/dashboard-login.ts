/**
 * Logging in to the dashboard: a form POST with the admin token, or a node's name and token. A POST
 * must come from the dashboard's own page (Sec-Fetch-Site and Origin are checked), its body is
 * small and read within a time limit, and tokens are compared in constant time (the admin token
 * here, a node token by re-deriving it from the server secret, see Registry.tokenOwner).
 */

import { ErrorCodes, ProximaError } from '../../../errors.js';
import type { HttpRequest } from '../../../http/exchange.js';
import { readRequestBody } from '../../../http/request-body.js';
import { constantTimeEqual } from '../../../proto/control/auth.js';
import type { NodeRecord } from '../../registry/node-store.js';
import type { DashboardViewer } from './dashboard-sessions.js';

/** The login form: a name and a token are a few hundred bytes. */
export const LOGIN_LIMITS = { maxBodyBytes: 4096, bodyTimeoutMs: 10_000 };

/** What a login is checked against. */
export interface LoginCheck {
  adminToken: string | undefined;
  registry: { tokenOwner(token: string): Promise<NodeRecord | undefined> };
}

/**
 * PRX_ERR_FORBIDDEN unless the POST comes from a page of this origin. A browser says so with
 * Sec-Fetch-Site: same-origin, which then decides (under Referrer-Policy no-referrer the page's own
 * forms are sent with `Origin: null`). A browser too old to send it sends Origin, which must be this
 * Host. A client that sends neither is not a browser another site could drive, so it may post.
 */
export function checkSameOrigin(req: HttpRequest): void {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined) {
    if (site !== 'same-origin') throw crossOrigin();
    return;
  }
  const origin = req.headers.origin;
  if (origin === undefined) return;
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    throw crossOrigin();
  }
  if (host === '' || host !== req.headers.host) throw crossOrigin();
}

const crossOrigin = (): ProximaError => new ProximaError(ErrorCodes.FORBIDDEN, 'the dashboard accepts forms from its own pages only');

/** The form's fields: `node` ('' for the admin) and `token`. PRX_ERR_HTTP_BAD_REQUEST for anything else. */
export async function readLoginForm(req: HttpRequest): Promise<{ node: string; token: string }> {
  const type = String(req.headers['content-type'] ?? '')
    .split(';', 1)[0]!
    .trim()
    .toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') {
    throw new ProximaError(ErrorCodes.HTTP_BAD_REQUEST, 'the login is a form (application/x-www-form-urlencoded)');
  }
  const form = new URLSearchParams((await readRequestBody(req, LOGIN_LIMITS)).toString('utf8'));
  return { node: (form.get('node') ?? '').trim(), token: (form.get('token') ?? '').trim() };
}

/**
 * Who the form's credentials name, or undefined: with no node name, the admin token (or any node's
 * token, which names its node); with a name, that node's token only.
 */
export async function authenticate(form: { node: string; token: string }, check: LoginCheck): Promise<DashboardViewer | undefined> {
  const { node, token } = form;
  if (token === '' || token.length > 512 || node.length > 63) return undefined;
  if (node === '' && check.adminToken !== undefined && constantTimeEqual(token, check.adminToken)) return { role: 'admin' };
  const owner = await check.registry.tokenOwner(token);
  if (owner === undefined || (node !== '' && node !== owner.name)) return undefined;
  return { role: 'node', node: owner.name, keyId: owner.keyId };
}
