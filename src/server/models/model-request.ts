/**
 * A request that goes to a node (chat, completions, generate, embeddings, show): read and check its
 * body, take a slot on a node sharing the model, call it, and on a failure before the user got a
 * byte try another node (at most `routing.maxAttempts` in all). When it is over, the ledger gets one
 * record naming the node that answered last; a complete answer's end waits for it to be durable.
 */

import { Cancel } from '../../cancel.js';
import { ErrorCodes, hasCode, ProximaError } from '../../errors.js';
import type { HttpRequest, HttpResponse } from '../../http/exchange.js';
import { readRequestBody } from '../../http/request-body.js';
import type { Logger } from '../../log.js';
import { withModel } from '../../proto/llm/model-field.js';
import { displayName } from '../../proto/llm/model-name.js';
import { PACKAGE_VERSION } from '../../version.js';
import type { RequestRecord } from '../ledger/ledger-record.js';
import type { ApiObservation } from '../observe/observations.js';
import { type AnswerFraming, AnswerWriter } from './answer/answer-writer.js';
import { type CallResult, callNode } from './answer/node-call.js';
import type { ApiConfig, RoutingConfig } from './api-config.js';
import { sendApiError } from './api-errors.js';
import type { ApiCaller } from './api-keys.js';
import { type ApiRoute, isInference } from './api-routes.js';
import { type LlmRequest, parseLlmRequest } from './llm-request.js';
import type { Affinity } from './routing/affinity.js';
import type { ModelHost } from './routing/model-catalog.js';
import { acquireModel, hasOtherHost } from './routing/model-choice.js';
import type { ModelNames } from './routing/model-names.js';
import type { ModelRouter } from './routing/model-router.js';
import type { RouteHealth } from './routing/route-health.js';
import type { UpstreamPools } from './routing/upstream-pools.js';
import { type UsageSink, usageRecord } from './usage-record.js';

/** What every routed request shares. */
export interface ModelRequestContext {
  router: ModelRouter;
  /** Aliases and fallbacks over the catalog. */
  names: ModelNames;
  affinity: Affinity;
  pools: UpstreamPools;
  /** Hears how each attempt ended (breakers). */
  health?: Pick<RouteHealth, 'report'>;
  api: ApiConfig;
  routing: RoutingConfig;
  usage: UsageSink;
  logger: Logger;
  /** Wall clock, ms since 1970: the record's time. */
  now: () => number;
}

/** One request to the API host that names a model; `requestId` is already in `x-request-id`. */
export interface ModelRequest {
  route: ApiRoute;
  req: HttpRequest;
  res: HttpResponse;
  caller: ApiCaller;
  requestId: string;
  /** Filled in as the request goes, when requests are observed (metrics, access log). */
  obs?: ApiObservation;
}

/** The user agent of every request the super node sends a node (canaries too, so they look alike). */
export const SUPER_NODE_USER_AGENT = `proxima-server/${PACKAGE_VERSION}`;

/** Serves one model request to its end; never rejects. */
export async function serveModelRequest(ctx: ModelRequestContext, r: ModelRequest): Promise<void> {
  const startMs = performance.now();
  const startedAtMs = ctx.now();
  const { route, res, obs } = r;
  const idHeader = { 'x-request-id': r.requestId };
  // The body's length, not the body: a body the node gets changed (usage asked for) is its own copy.
  let bytesIn: number;
  let request: LlmRequest;
  try {
    const raw = await readRequestBody(r.req, ctx.api);
    bytesIn = raw.length;
    if (obs !== undefined) obs.bytesIn = bytesIn;
    request = parseLlmRequest(route, raw);
    // A model the key may not use does not exist for it: the router's own words for an unknown model.
    if (r.caller.models != null && !r.caller.models.has(request.key)) {
      throw new ProximaError(ErrorCodes.MODEL_NOT_FOUND, `no node shares the model ${displayName(request.key)}`);
    }
  } catch (err) {
    if (!res.destroyed) sendApiError(res, route.surface, err, { headers: idHeader, logger: ctx.logger });
    return;
  }
  const framing: AnswerFraming = !request.stream ? 'whole' : route.surface === 'ollama' ? 'ndjson' : 'sse';
  const writer = new AnswerWriter(res, { surface: route.surface, framing, headers: idHeader, logger: ctx.logger });
  const user = new Cancel();
  res.once('close', () => {
    if (!res.writableFinished) user.abort(new Error('the user left'));
  });
  const exclude = new Set<string>();
  const prefer = ctx.affinity.preferred(request.key, request.conversation);
  let last: { host: ModelHost; result: CallResult } | undefined;
  const record = async (host: ModelHost, result: CallResult, tailBytes = 0): Promise<void> => {
    if (!isInference(route.kind)) return; // /api/show is metadata: nothing to meter
    const usage = usageRecord({
      id: r.requestId,
      startedAtMs,
      host,
      caller: r.caller,
      route,
      request,
      outcome: result.outcome,
      meter: result.meter,
      ttftMs: result.ttftMs,
      durationMs: performance.now() - startMs,
      bytesIn,
      bytesOut: writer.bytesOut + tailBytes,
    });
    if (obs !== undefined) observeUsage(obs, usage);
    await ctx.usage(usage);
  };
  // Nobody waits for the record of an answer that did not end complete; the ledger logs a failure.
  const recordLater = (host: ModelHost, result: CallResult): void => void record(host, result).catch(() => undefined);
  for (let attempt = 1; ; attempt++) {
    let host: ModelHost;
    let release: () => void;
    try {
      ({ host, release } = await acquireModel(ctx.router, ctx.names, request.key, {
        signal: user,
        exclude,
        ignoreCapacity: route.kind === 'show',
        prefer,
      }));
    } catch (err) {
      if (user.aborted) return;
      if (obs !== undefined) {
        if (hasCode(err, ErrorCodes.NODES_BUSY)) obs.outcome = 'busy';
        if (ctx.names.lookup(request.key).status !== 'unknown') obs.model = displayName(request.key).slice(0, 256);
      }
      // Past a failed attempt, "no other node" is that node's failure; anything else (busy) is itself.
      const shown = last?.result.retry !== undefined && hasCode(err, ErrorCodes.MODEL_UNAVAILABLE) ? last.result.retry : err;
      writer.fail(shown, ctx.routing.retryAfterMs);
      if (last !== undefined) recordLater(last.host, { ...last.result, outcome: 'node_error' });
      return;
    }
    if (obs !== undefined) {
      obs.node = host.node.name;
      obs.model = displayName(host.key).slice(0, 256); // as the ledger names it
    }
    writer.setHeader('x-proxima-node', host.node.name);
    writer.setHeader('x-proxima-model', displayName(host.key));
    const canRetry =
      attempt < ctx.routing.maxAttempts && hasOtherHost(ctx.router, ctx.names, request.key, new Set([...exclude, host.node.name]));
    // An alias or a fallback: the node is asked for its own model by the name it advertised.
    const sent = host.key === request.key ? request : { ...request, body: withModel(request.body, host.model.name) ?? request.body };
    let result: CallResult;
    try {
      result = await callNode({
        pool: ctx.pools.pool(host),
        host,
        route,
        request: sent,
        writer,
        signal: user,
        abort: (reason) => user.abort(reason),
        startMs,
        canRetry,
        retryAfterMs: ctx.routing.retryAfterMs,
        // The node is done: its slot is free while the record waits for the disk.
        commit: (done, tailBytes) => {
          ctx.health?.report(host, 'ok');
          release();
          ctx.affinity.remember(request.key, request.conversation, host);
          return record(host, done, tailBytes);
        },
        headers: { 'content-type': 'application/json', 'user-agent': SUPER_NODE_USER_AGENT, 'x-request-id': r.requestId },
        timeouts: { ...ctx.routing, keepAliveIntervalMs: framing === 'sse' ? ctx.api.keepAliveIntervalMs : 0 },
      });
      ctx.health?.report(host, result.outcome === 'ok' ? 'ok' : result.fault === true ? 'fault' : 'none');
    } finally {
      release();
    }
    if (obs !== undefined && result.retry === undefined) {
      obs.outcome = result.outcome;
      obs.ttfbMs = result.ttftMs ?? -1;
      obs.bytesOut = Math.max(obs.bytesOut, writer.bytesOut);
    }
    if (result.retry === undefined) {
      if (result.committed !== true) recordLater(host, result);
      return;
    }
    ctx.logger.warn('a node failed before answering; trying another', {
      requestId: r.requestId,
      node: host.node.name,
      err: result.retry as ProximaError,
    });
    exclude.add(host.node.name);
    last = { host, result };
  }
}

/** What the ledger recorded, for the metrics and the access log: the same model, outcome and tokens. */
function observeUsage(obs: ApiObservation, usage: RequestRecord): void {
  obs.outcome = usage.outcome;
  obs.tokensIn = usage.promptTokensReported ?? 0;
  obs.tokensOut = usage.completionTokensReported ?? usage.completionTokensObserved;
  obs.ttfbMs = usage.ttftMs ?? -1;
  obs.bytesOut = usage.bytesOut;
}
