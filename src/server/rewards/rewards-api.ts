/**
 * The rewards report over HTTP, on the API host:
 *   GET /admin/rewards[?epoch=N | ?from=T&to=T]      the admin bearer token: every node
 *   GET /nodes/NAME/usage[?epoch=N | ?from=T&to=T]   that node's own token (or the admin's): its line
 * Both answer the JSON array of `proxima-server rewards --json`.
 *   GET /admin/usage[?by=node|key|model][&epoch=N]     the admin bearer token: `proxima-server usage --json` A node's token is checked by
 * re-deriving it from the server secret and the node's key id, in constant time.
 */

import { ErrorCodes, ProximaError } from '../../errors.js';
import type { HttpRequest, HttpResponse } from '../../http/exchange.js';
import { type Logger, silentLogger } from '../../log.js';
import { constantTimeEqual } from '../../proto/control/auth.js';
import type { ApiPart } from '../api-host/api-router.js';
import { type AuthThrottle, admit, failed } from '../api-host/auth-throttle.js';
import { bearerToken, sendError, sendJson } from '../api-host/http-json.js';
import { LazyLru } from '../lazy-lru.js';
import type { LedgerSource } from '../ledger/ledger.js';
import type { SkippedLine } from '../ledger/ledger-reader.js';
import type { Registry } from '../registry/registry.js';
import type { NodeRewards } from './node-rewards.js';
import { computeRewards, idleNodeRewards, type RewardsQuery, resolveWindow } from './rewards-query.js';
import type { RewardsWindow } from './rewards-tally.js';
import type { RewardRules } from './rules.js';
import { computeUsage, parseGrouping, type UsageRow } from './usage-report.js';

/** What the rewards API reads and whom it lets in. */
export interface RewardsApiOptions {
  dataDir: string;
  /** Where the records are read: PostgreSQL's when configured (open-ledger.ts); the file ledger of dataDir by default. */
  source?: LedgerSource;
  rules: RewardRules;
  registry: Pick<Registry, 'tokenOwner'>;
  /** Without one, /admin/rewards is refused (403) and nodes see only their own line. */
  adminToken?: string;
  /** A report is computed at most once per window in this time, however many ask. */
  cacheMs?: number;
  now?: () => number;
  logger?: Logger;
  /** Wrong tokens per client address: slowed, then refused (429). */
  authThrottle?: AuthThrottle;
}

export const DEFAULT_REWARDS_CACHE_MS = 10_000;
const MAX_CACHED_REPORTS = 32;
/** The longest span a report over HTTP may cover, in epochs (a quarter of daily epochs). */
export const MAX_SPAN_EPOCHS = 92;
const QUERY_KEYS: ReadonlySet<string> = new Set(['epoch', 'from', 'to']);
const USAGE_KEYS: ReadonlySet<string> = new Set(['by', 'epoch']);

type Route = { kind: 'admin' } | { kind: 'usage' } | { kind: 'node'; name: string };

/** Builds the part of the API router that serves /admin/rewards and /nodes/NAME/usage. */
export function createRewardsApi(options: RewardsApiOptions): ApiPart {
  const { dataDir, source, rules, registry, adminToken } = options;
  const now = options.now ?? Date.now;
  const logger = options.logger ?? silentLogger;
  const cacheMs = options.cacheMs ?? DEFAULT_REWARDS_CACHE_MS;
  // Reading an epoch of ledger is the costly part: concurrent and repeated asks share one reading.
  const reports = new Map<string, { atMs: number; answer: Promise<NodeRewards[]> }>();
  let readings: Promise<unknown> = Promise.resolve();
  const reported = new LazyLru<string, true>({ max: 1000 });
  const onSkip = (s: SkippedLine): void => {
    const key = `${s.file}:${s.offset}`;
    if (reported.has(key)) return;
    reported.set(key, true);
    logger.warn('ledger: skipped a line that is not a record', { ...s });
  };

  const windowOf = (query: RewardsQuery, nowMs: number): RewardsWindow => {
    try {
      return resolveWindow(query, rules, nowMs);
    } catch (err) {
      throw new ProximaError(ErrorCodes.HTTP_BAD_REQUEST, (err as Error).message, { cause: err });
    }
  };

  /** One reading at a time: many windows asked at once queue instead of all reading the disk. */
  const queued = <T>(read: () => Promise<T>): Promise<T> => {
    const answer = readings.then(read);
    readings = answer.catch(() => undefined);
    return answer;
  };

  const report = (query: RewardsQuery): Promise<NodeRewards[]> => {
    const nowMs = now();
    const window = windowOf(query, nowMs);
    if (window.toMs - window.fromMs > MAX_SPAN_EPOCHS * rules.epochLengthMs) {
      throw new ProximaError(
        ErrorCodes.HTTP_BAD_REQUEST,
        `a span may cover at most ${MAX_SPAN_EPOCHS} epochs over HTTP; use proxima-server rewards for more`,
      );
    }
    const key = `${window.fromMs}:${window.toMs}`;
    const cached = reports.get(key);
    if (cached !== undefined && nowMs - cached.atMs < cacheMs) return cached.answer;
    const answer = queued(() => computeRewards({ dataDir, source, rules, window, nowMs, onSkip }));
    reports.delete(key);
    reports.set(key, { atMs: nowMs, answer });
    if (reports.size > MAX_CACHED_REPORTS) reports.delete(reports.keys().next().value!);
    answer.catch(() => reports.get(key)?.answer === answer && reports.delete(key));
    return answer;
  };

  /** `?by=node|key|model&epoch=N`: the window is an epoch, as for `proxima-server usage`. */
  const usage = (query: Record<string, string>): Promise<UsageRow[]> => {
    const nowMs = now();
    let by;
    try {
      by = parseGrouping(query.by ?? 'node');
    } catch (err) {
      throw new ProximaError(ErrorCodes.HTTP_BAD_REQUEST, (err as Error).message, { cause: err });
    }
    const window = windowOf({ epoch: query.epoch }, nowMs);
    return queued(() => computeUsage({ dataDir, source, rules, window, by, nowMs, onSkip }));
  };

  const isAdmin = (presented: string | undefined): boolean =>
    presented !== undefined && presented !== '' && adminToken !== undefined && constantTimeEqual(presented, adminToken);

  /** A wrong token counts against the client's address; its 401 is held back (auth-throttle.ts). */
  const refuse = async (presented: string | undefined, clientAddress: string, message: string): Promise<never> => {
    if (presented !== undefined) await failed(options.authThrottle, clientAddress);
    throw new ProximaError(ErrorCodes.UNAUTHORIZED, message);
  };

  const serve = async (req: HttpRequest, res: HttpResponse, route: Route, clientAddress: string): Promise<void> => {
    const presented = bearerToken(req);
    if (presented !== undefined) admit(options.authThrottle, clientAddress, 'tokens');
    if (route.kind !== 'node') {
      if (adminToken === undefined) throw new ProximaError(ErrorCodes.FORBIDDEN, 'the admin API is off: the super node has no admin.token');
      if (!isAdmin(presented)) await refuse(presented, clientAddress, 'this needs the admin bearer token');
      const query = queryOf(req.url ?? '/', route.kind === 'usage' ? USAGE_KEYS : QUERY_KEYS);
      sendJson(res, 200, await (route.kind === 'usage' ? usage(query) : report(query)));
      return;
    }
    const query = queryOf(req.url ?? '/', QUERY_KEYS);
    if (!isAdmin(presented)) {
      const owner = presented ? await registry.tokenOwner(presented) : undefined;
      if (owner === undefined) await refuse(presented, clientAddress, "this needs the node's token as bearer token");
      if (owner!.name !== route.name) throw new ProximaError(ErrorCodes.FORBIDDEN, 'a node sees only its own usage');
    }
    const row = (await report(query)).find((r) => r.node === route.name) ?? idleNodeRewards(route.name, rules);
    sendJson(res, 200, [row]);
  };

  return async (req, res, clientAddress) => {
    const route = matchRoute(req.url ?? '/');
    if (route === undefined) return false;
    try {
      if (route === 'bad') throw new ProximaError(ErrorCodes.HTTP_BAD_REQUEST, 'the node name in the path is not valid');
      if (req.method !== 'GET') {
        const err = new ProximaError(ErrorCodes.HTTP_METHOD_NOT_ALLOWED, `${req.method ?? 'this method'} is not allowed here; use GET`);
        sendError(res, err, logger, { allow: 'GET' });
        return true;
      }
      await serve(req, res, route, clientAddress);
    } catch (err) {
      sendError(res, err, logger);
    }
    return true;
  };
}

function matchRoute(url: string): Route | 'bad' | undefined {
  const pathname = url.split('?', 1)[0]!;
  if (pathname === '/admin/rewards') return { kind: 'admin' };
  if (pathname === '/admin/usage') return { kind: 'usage' };
  const match = /^\/nodes\/([^/]+)\/usage$/.exec(pathname);
  if (match === null) return undefined;
  try {
    return { kind: 'node', name: decodeURIComponent(match[1]!) };
  } catch {
    return 'bad';
  }
}

/** The query string: 400 for a key not in `keys`, or a repeated one. */
function queryOf(url: string, keys: ReadonlySet<string>): Record<string, string> {
  const at = url.indexOf('?');
  const params = new URLSearchParams(at < 0 ? '' : url.slice(at + 1));
  const query: Record<string, string> = {};
  for (const [key, value] of params) {
    if (!keys.has(key) || key in query)
      throw new ProximaError(
        ErrorCodes.HTTP_BAD_REQUEST,
        `unknown or repeated query parameter ${JSON.stringify(key.slice(0, 40))}; use ${[...keys].join(', ')}`,
      );
    query[key] = value;
  }
  return query;
}
