/**
 * The host's dashboard at /dashboard, as an {@link ApiPart} for the admin listener:
 *   GET  /dashboard            the page (or the login form without a session)
 *   GET  /dashboard/state      the JSON the page polls every 2 s (401 without a session)
 *   GET  /dashboard/assets/*   uPlot, the page's script and style, from memory, cached for a year
 *   POST /dashboard/login      a form: the admin token, or a node's name and token
 *   POST /dashboard/logout
 * The session is a random id in an HttpOnly, SameSite=Strict cookie scoped to /dashboard (Secure
 * over https); the token is never in a cookie or a URL. Failed logins are throttled per address. A
 * node's session ends as soon as its token is revoked or rotated.
 */

import { type TrustProxySetting, trustedProxies } from '../../../config/access.js';
import { ErrorCodes, ProximaError } from '../../../errors.js';
import type { HttpRequest, HttpResponse } from '../../../http/exchange.js';
import type { Logger } from '../../../log.js';
import type { ApiPart } from '../../api-host/api-router.js';
import { type AuthThrottle, admit, failed } from '../../api-host/auth-throttle.js';
import { sendError, sendJson } from '../../api-host/http-json.js';
import type { ServerConfig } from '../../config.js';
import type { LedgerSource } from '../../ledger/ledger.js';
import type { ProbeRecord, RequestRecord } from '../../ledger/ledger-record.js';
import type { NodeRecord } from '../../registry/node-store.js';
import type { RewardRules } from '../../rewards/rules.js';
import type { CanaryOutcome } from '../../verify/canaries.js';
import { DashboardFeed, type DashboardFeedOptions, type FeedNodes } from './dashboard-feed.js';
import { authenticate, checkSameOrigin, readLoginForm } from './dashboard-login.js';
import { DashboardPages, SECURITY_HEADERS } from './dashboard-pages.js';
import { DashboardRewards } from './dashboard-rewards.js';
import {
  DashboardSessions,
  type DashboardSessionsOptions,
  type DashboardViewer,
  SESSION_COOKIE,
  sessionIdOf,
} from './dashboard-sessions.js';
import { dashboardState, type StateSources } from './dashboard-state.js';

/** What the dashboard reads and whom it lets in. */
export interface DashboardOptions {
  registry: { list(): Promise<NodeRecord[]>; get(name: string): Promise<NodeRecord | undefined> } & StateSources['registry'] & {
      tokenOwner(token: string): Promise<NodeRecord | undefined>;
    };
  /** The live nodes (NodeSessions). */
  nodes: FeedNodes & StateSources['nodes'];
  /** The model API's catalog and router (ModelApi). */
  models: { catalog: StateSources['catalog']; router: StateSources['router'] };
  /** Without one, only operators can log in (with their node's token). */
  adminToken: string | undefined;
  dataDir: string;
  /** Where the records are read: PostgreSQL's when configured (open-ledger.ts); the file ledger of dataDir by default. */
  source?: LedgerSource;
  rules: RewardRules;
  /** Requests from these proxies are https when they say so in X-Forwarded-Proto (the cookie is then Secure). */
  trustProxy: TrustProxySetting;
  /** Failed logins per address (the admin door's throttle). */
  authThrottle?: AuthThrottle;
  sessions?: DashboardSessionsOptions;
  feed?: Omit<DashboardFeedOptions, 'nodes'>;
  /** Where the assets are (tests); next to the compiled module by default. */
  assetsDir?: URL;
  /** With presence in PostgreSQL: the nodes other instances hold, and this instance's id. */
  remote?: StateSources['remote'];
  instance?: string;
  now?: () => number;
  logger: Logger;
}

/** The server's events the feed hears (ProximaServer). */
export interface DashboardEvents {
  on(event: 'usage', listener: (record: RequestRecord) => void): unknown;
  on(event: 'probe', listener: (record: ProbeRecord) => void): unknown;
  on(event: 'canary', listener: (outcome: CanaryOutcome) => void): unknown;
}

/** The dashboard: its router part, and the feed to tell of the server's events (usage, probe, canary). */
export interface Dashboard {
  part: ApiPart;
  feed: DashboardFeed;
  sessions: DashboardSessions;
  /** Feeds the dashboard from the server's durable records. */
  follow(server: DashboardEvents): void;
  /** Stops the feed's timer and listeners. Idempotent. */
  close(): void;
}

const PREFIX = '/dashboard';

/** Builds the dashboard; reads its assets now (throws on a broken build). */
export function createDashboard(o: DashboardOptions): Dashboard {
  const pages = new DashboardPages(o.assetsDir);
  const sessions = new DashboardSessions({ now: o.now, ...o.sessions });
  const feed = new DashboardFeed({ now: o.now, ...o.feed, nodes: o.nodes });
  const rewards = new DashboardRewards({ dataDir: o.dataDir, source: o.source, rules: o.rules, now: o.now, logger: o.logger });
  const sources: StateSources = {
    registry: o.registry,
    nodes: o.nodes,
    ...o.models,
    feed,
    rewards,
    now: o.now,
    remote: o.remote,
    instance: o.instance,
  };
  const trusted = trustedProxies(o.trustProxy);
  const { logger } = o;

  const secure = (req: HttpRequest): boolean =>
    'encrypted' in req.socket ||
    (trusted.has(req.socket.remoteAddress ?? '') &&
      String(req.headers['x-forwarded-proto'] ?? '')
        .split(',', 1)[0]!
        .trim() === 'https');
  const cookie = (req: HttpRequest, value: string, maxAgeS: number): string =>
    `${SESSION_COOKIE}=${value}; Path=${PREFIX}; HttpOnly; SameSite=Strict; Max-Age=${maxAgeS}${secure(req) ? '; Secure' : ''}`;

  /** The session's viewer; a node's session whose token was revoked or rotated is ended here. */
  const viewerOf = async (req: HttpRequest): Promise<DashboardViewer | undefined> => {
    const id = sessionIdOf(req.headers.cookie);
    const viewer = sessions.viewer(id);
    if (viewer?.role !== 'node') return viewer;
    const record = await o.registry.get(viewer.node);
    if (record !== undefined && record.keyId === viewer.keyId) return viewer;
    sessions.end(id);
    return undefined;
  };

  const login = async (req: HttpRequest, res: HttpResponse, clientAddress: string): Promise<void> => {
    checkSameOrigin(req);
    admit(o.authThrottle, clientAddress, 'dashboard logins');
    const form = await readLoginForm(req);
    const viewer = await authenticate(form, { adminToken: o.adminToken, registry: o.registry });
    if (viewer === undefined) {
      await failed(o.authThrottle, clientAddress);
      logger.info('dashboard login refused', { clientAddress });
      return pages.login(res, 401, 'Wrong token (or a node name that is not the token’s).');
    }
    const id = sessions.open(viewer);
    logger.info('dashboard login', { clientAddress, role: viewer.role, node: viewer.role === 'node' ? viewer.node : undefined });
    const maxAgeS = Math.floor(sessions.maxAgeMs / 1000);
    res
      .writeHead(303, { ...SECURITY_HEADERS, location: `${PREFIX}/`, 'set-cookie': cookie(req, id, maxAgeS), 'cache-control': 'no-store' })
      .end();
  };

  const part: ApiPart = async (req, res, clientAddress) => {
    const path = (req.url ?? '/').split('?', 1)[0]!;
    if (path !== PREFIX && !path.startsWith(`${PREFIX}/`)) return false;
    const method = req.method ?? 'GET';
    const sub = path.slice(PREFIX.length);
    const read = method === 'GET' || method === 'HEAD';
    try {
      if (sub.startsWith('/assets/') && read) {
        if (!pages.serveAsset(sub.slice('/assets/'.length), req.headers['if-none-match'], res)) throw notFound(path);
      } else if ((sub === '' || sub === '/') && read) {
        if ((await viewerOf(req)) === undefined) pages.login(res, 200);
        else pages.dashboard(res);
      } else if (sub === '/state' && read) {
        const viewer = await viewerOf(req);
        if (viewer === undefined) throw new ProximaError(ErrorCodes.UNAUTHORIZED, 'log in to the dashboard first');
        sendJson(res, 200, await dashboardState(sources, viewer), SECURITY_HEADERS);
      } else if (sub === '/login' && method === 'POST') {
        await login(req, res, clientAddress);
      } else if (sub === '/logout' && method === 'POST') {
        checkSameOrigin(req);
        sessions.end(sessionIdOf(req.headers.cookie));
        res
          .writeHead(303, { ...SECURITY_HEADERS, location: `${PREFIX}/`, 'set-cookie': cookie(req, '', 0), 'cache-control': 'no-store' })
          .end();
      } else if (['', '/', '/state', '/login', '/logout'].includes(sub) || sub.startsWith('/assets/')) {
        throw new ProximaError(ErrorCodes.HTTP_METHOD_NOT_ALLOWED, `${method.slice(0, 16)} is not allowed on ${path.slice(0, 100)}`);
      } else throw notFound(path);
    } catch (err) {
      sendError(res, err, logger, SECURITY_HEADERS);
    }
    return true;
  };

  const follow = (server: DashboardEvents): void => {
    server.on('usage', (record) => feed.usage(record));
    server.on('probe', (record) => feed.probe(record));
    server.on('canary', (outcome) => feed.canary(outcome));
  };
  return { part, feed, sessions, follow, close: () => feed.close() };
}

/** What the super node has that its dashboard reads. */
export interface ServerDashboardParts {
  config: ServerConfig;
  registry: DashboardOptions['registry'];
  nodes: DashboardOptions['nodes'];
  models: DashboardOptions['models'];
  /** The throttles of failed credentials: the dashboard's login uses the admin door's. */
  throttles: { admin: AuthThrottle };
  /** The ledger its rewards are read from (PostgreSQL's when configured). */
  source?: LedgerSource;
  now?: () => number;
  logger: Logger;
  /** With presence in PostgreSQL: the nodes other instances hold, and (`instance`) this instance's id. */
  remote?: DashboardOptions['remote'] & { readonly instance?: string };
}

/** The dashboard of a super node, from its config (admin.token, dataDir, rewards, http.trustProxy). */
export function createServerDashboard(o: ServerDashboardParts): Dashboard {
  const { config } = o;
  return createDashboard({
    registry: o.registry,
    nodes: o.nodes,
    models: o.models,
    adminToken: config.admin.token,
    dataDir: config.dataDir,
    source: o.source,
    rules: config.rewards,
    trustProxy: config.http.trustProxy,
    authThrottle: o.throttles.admin,
    remote: o.remote,
    instance: o.remote?.instance,
    now: o.now,
    logger: o.logger.child({ component: 'dashboard' }),
  });
}

const notFound = (path: string): ProximaError => new ProximaError(ErrorCodes.HTTP_NOT_FOUND, `nothing here: ${path.slice(0, 200)}`);
