/**
 * The super node's OpenAI- and Ollama-compatible endpoint (`/v1/*`, `/api/*` on the API host), as
 * one part of the API router: every request gets an `x-request-id`, is checked against the API keys,
 * then is answered from the catalog (model lists) or routed by its model to a node. Built from the
 * live nodes and the registry; closed with the server.
 */

import type { Duplex } from 'node:stream';
import { ErrorCodes, ProximaError } from '../../errors.js';
import type { HttpRequest, HttpResponse } from '../../http/exchange.js';
import { newRequestId } from '../../http/request-id.js';
import type { Logger } from '../../log.js';
import type { ApiPart } from '../api-host/api-router.js';
import { type AuthThrottle, admit, failed, type ThrottledError } from '../api-host/auth-throttle.js';
import { bearerToken } from '../api-host/http-json.js';
import type { KeyRecord } from '../keys/key-record.js';
import type { KeyStore } from '../keys/key-store.js';
import type { KeyUsage } from '../keys/key-usage.js';
import { ApiObservation, OTHER_ROUTE } from '../observe/observations.js';
import type { RequestObserver } from '../observe/request-observer.js';
import type { ApiConfig, RoutingConfig } from './api-config.js';
import { sendApiError } from './api-errors.js';
import { type ApiCaller, ApiKeys, type KeyDecision } from './api-keys.js';
import { type ApiRoute, matchRoute, type RouteMatch } from './api-routes.js';
import { listOllamaTags, listOpenAiModels, ollamaVersion, retrieveOpenAiModel, sendListing } from './catalog-routes.js';
import { ForwardedCalls } from './forwarded-calls.js';
import { type ModelRequestContext, serveModelRequest } from './model-request.js';
import { Affinity } from './routing/affinity.js';
import { type CatalogNodes, ModelCatalog, type ModelMemory } from './routing/model-catalog.js';
import { ModelNames } from './routing/model-names.js';
import type { ModelNamesConfig } from './routing/model-names-config.js';
import { ModelRouter } from './routing/model-router.js';
import { RouteHealth } from './routing/route-health.js';
import { UpstreamPools } from './routing/upstream-pools.js';
import type { UsageSink } from './usage-record.js';

/** What the endpoint is built from. */
export interface ModelApiOptions {
  /** The live nodes (NodeSessions). */
  nodes: CatalogNodes;
  /** The registry: offline nodes' models, kept across restarts. */
  memory: ModelMemory;
  config: { api: ApiConfig; routing: RoutingConfig; models?: ModelNamesConfig };
  /** Gets one record per routed inference request (the ledger, in the server). */
  usage: UsageSink;
  logger: Logger;
  /** Wall clock in ms (the records' time); the rate limits' clock too. */
  now?: () => number;
  /** Breaks routing ties (tests inject their own). */
  random?: () => number;
  /** How long an idle tunnel stream to a node is kept for the next request. */
  keepAliveMs?: number;
  /** The key store (`proxima-server keys`), followed as it changes: its keys work beside server.yaml's. */
  keyStore?: Pick<KeyStore, 'on'> & { readonly current: readonly KeyRecord[] };
  /** What each key has used (seeded from the ledger by the server); a fresh one when absent. */
  keyUsage?: KeyUsage;
  /** Wrong keys per client address: slowed, then refused (429). */
  authThrottle?: AuthThrottle;
  /** Hears each finished request and each wait in the router's queue (metrics, access log). */
  observer?: RequestObserver;
}

/** The endpoint. Open it with {@link ModelApi.open}; `handle` is its part of the API router. */
export class ModelApi {
  readonly catalog: ModelCatalog;
  /** The catalog with the operator's aliases and fallbacks. */
  readonly names: ModelNames;
  readonly router: ModelRouter;
  readonly pools: UpstreamPools;
  /** Breakers and flags: hosts the router passes over. */
  readonly health: RouteHealth;
  /** The catalog as lists show it: less the models unhealthy past `routing.unhealthyGraceMs`. */
  readonly #listed: Pick<ModelNames, 'online' | 'lookup'>;
  readonly #keys: ApiKeys;
  readonly #context: ModelRequestContext;
  readonly #throttle: AuthThrottle | undefined;
  readonly #observer: RequestObserver | undefined;
  readonly #forwarded: ForwardedCalls;
  #closing: Promise<void> | undefined;

  private constructor(catalog: ModelCatalog, options: ModelApiOptions) {
    const { config, logger } = options;
    this.catalog = catalog;
    this.names = new ModelNames(catalog, config.models);
    this.health = new RouteHealth({ ...config.routing, now: options.now, logger });
    const observer = options.observer;
    this.#observer = observer;
    this.router = new ModelRouter({
      catalog: this.names,
      ...config.routing,
      random: options.random,
      health: this.health,
      onQueueWait: observer && ((ms) => observer.queueWait(ms)),
    });
    this.#listed = {
      online: () => this.names.online().filter(({ hosts }) => this.health.listable(hosts)),
      lookup: (key) => this.names.lookup(key),
    };
    this.pools = new UpstreamPools({ nodes: options.nodes, keepAliveMs: options.keepAliveMs, logger });
    this.#forwarded = new ForwardedCalls({ catalog, router: this.router, pools: this.pools, logger });
    this.#keys = new ApiKeys(config.api, options.now, options.keyUsage);
    const store = options.keyStore;
    if (store !== undefined) {
      const take = (keys: readonly KeyRecord[]): void => {
        const ignored = this.#keys.setStoredKeys(keys);
        if (ignored.length > 0) logger.warn("stored API keys ignored: their id or name is a server.yaml key's id", { keys: ignored });
      };
      take(store.current);
      store.on('change', (keys) => {
        take(keys);
        logger.info('API keys changed', { stored: keys.filter((k) => k.revokedAt === null).length });
      });
    }
    const sink = options.usage;
    this.#throttle = options.authThrottle;
    this.#context = {
      router: this.router,
      names: this.names,
      affinity: new Affinity(config.routing.affinityEntries),
      pools: this.pools,
      health: this.health,
      api: config.api,
      routing: config.routing,
      usage: (record) => {
        this.#keys.recorded(record);
        return sink(record);
      },
      logger,
      now: options.now ?? Date.now,
    };
  }

  /** Loads the catalog (offline nodes' models from the registry) and starts following the nodes. */
  static async open(options: ModelApiOptions): Promise<ModelApi> {
    const catalog = await ModelCatalog.open({ nodes: options.nodes, memory: options.memory, logger: options.logger });
    return new ModelApi(catalog, options);
  }

  /** The API router part: claims `/v1` and `/api`, resolves false for any other path. */
  readonly handle: ApiPart = async (req, res, clientAddress) => {
    const path = (req.url ?? '/').split('?', 1)[0]!;
    const match = matchRoute(req.method ?? 'GET', path);
    if (match === undefined) return false;
    const requestId = newRequestId();
    res.setHeader('x-request-id', requestId);
    const obs = this.#observer && new ApiObservation(requestId, 'route' in match ? match.route.path : OTHER_ROUTE, performance.now());
    await this.#serve(req, res, clientAddress, match, requestId, obs);
    if (obs !== undefined) this.#observed(obs, res);
    return true;
  };

  async #serve(
    req: HttpRequest,
    res: HttpResponse,
    clientAddress: string,
    match: RouteMatch,
    requestId: string,
    obs: ApiObservation | undefined,
  ): Promise<void> {
    const logger = this.#context.logger;
    if ('error' in match) {
      sendApiError(res, match.surface, match.error, { headers: match.allow === undefined ? {} : { allow: match.allow }, logger });
      return;
    }
    const { route } = match;
    const use = route.kind === 'key' ? 'self' : route.method === 'GET' ? 'listing' : 'node';
    const decision = await this.#checkKey(req, clientAddress, use, route);
    if ('error' in decision) {
      sendApiError(res, route.surface, decision.error, { retryAfterMs: decision.retryAfterMs, logger });
      return;
    }
    try {
      if (route.method === 'GET') this.#list(route, match.id, req, res, decision.caller);
      else await serveModelRequest(this.#context, { route, req, res, caller: decision.caller, requestId, obs });
    } catch (err) {
      if (!res.headersSent) sendApiError(res, route.surface, err, { retryAfterMs: this.#context.routing.retryAfterMs, logger });
      else res.destroy();
    }
  }

  /** A request is over: what its response says, to the observer. */
  #observed(obs: ApiObservation, res: HttpResponse): void {
    obs.status = res.headersSent ? res.statusCode : 0;
    if (obs.bytesOut === 0) obs.bytesOut = Number(res.getHeader('content-length') ?? 0) || 0;
    obs.durationMs = performance.now() - obs.startMs;
    this.#observer!.api(obs);
  }

  /**
   * The key's decision, after the client's address has passed the throttle of wrong keys: refused
   * (429) while it has too many recent failures; a wrong key counts one more and its 401 is held back.
   */
  async #checkKey(req: HttpRequest, clientAddress: string, use: Parameters<ApiKeys['check']>[1], route: ApiRoute): Promise<KeyDecision> {
    const presented = route.surface === 'anthropic' ? (bearerToken(req) ?? anthropicKey(req)) : bearerToken(req);
    try {
      if (presented !== undefined) admit(this.#throttle, clientAddress, 'API keys');
    } catch (err) {
      return { error: err as ThrottledError, retryAfterMs: (err as ThrottledError).retryAfterMs };
    }
    const decision = this.#keys.check(presented, use);
    if ('error' in decision && decision.error.code === ErrorCodes.UNAUTHORIZED && presented !== undefined) {
      await failed(this.#throttle, clientAddress);
    }
    return decision;
  }

  /**
   * Serves the API requests another instance forwards here (cluster) for `node`'s `service` on
   * `stream`, each with a slot on it, so the node's maxConcurrent counts every instance's requests.
   */
  serveForwarded(stream: Duplex, node: string, service: string): void {
    this.#forwarded.serve(stream, node, service);
  }

  /**
   * Stops routing (waiting requests get 503 PRX_ERR_SERVER_DRAINING), lets calls in flight finish, and
   * closes every tunnel stream to nodes. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.router.close();
      this.#forwarded.close();
      this.catalog.close();
      await this.pools.close();
    })();
    return this.#closing;
  }

  /** Cuts every call to a node now. Idempotent. */
  async destroy(): Promise<void> {
    this.router.close();
    this.#forwarded.destroy();
    this.catalog.close();
    await this.pools.destroy();
  }

  #list(route: ApiRoute, id: string | undefined, req: HttpRequest, res: HttpResponse, caller: ApiCaller): void {
    const body =
      route.kind === 'models'
        ? listOpenAiModels(this.#listed, caller.models)
        : route.kind === 'model'
          ? retrieveOpenAiModel(this.#listed, id ?? '', caller.models)
          : route.kind === 'tags'
            ? listOllamaTags(this.#listed, caller.models)
            : route.kind === 'key'
              ? this.#describeKey(caller)
              : ollamaVersion();
    sendListing(res, body, {}, req.method === 'HEAD');
  }

  /** `GET /v1/key`: the calling key's limits and usage; only a key can ask (not an open API's anonymous caller). */
  #describeKey(caller: ApiCaller): unknown {
    const described = caller.keyId === null ? undefined : this.#keys.describe(caller.keyId);
    if (described === undefined)
      throw new ProximaError(ErrorCodes.UNAUTHORIZED, 'GET /v1/key describes the API key it is called with: give one');
    return { object: 'api_key', ...described };
  }
}

/** Anthropic's clients send the key as `x-api-key`, not as a Bearer token. */
function anthropicKey(req: HttpRequest): string | undefined {
  const v = req.headers['x-api-key'];
  return typeof v === 'string' ? v.trim() : undefined;
}
