/**
 * One canary request to one node: it takes a slot on that node from the router like a user's
 * request (never past the node's maxConcurrent, and never waiting: a busy node is skipped), goes
 * through the same pool with the same headers, and is metered like a user's answer, so its ledger
 * record is an ordinary request record (keyId null) that the canary step then marks.
 */

import { ErrorCodes, hasCode } from '../../errors.js';
import type { Dispatcher } from '../../http/dispatcher.js';
import { type AnswerText, answerText } from '../../proto/llm/text.js';
import type { RequestOutcome, RequestRecord } from '../ledger/ledger-record.js';
import { answerRelay } from '../models/answer/answer-relays.js';
import { matchRoute } from '../models/api-routes.js';
import { parseLlmRequest } from '../models/llm-request.js';
import type { ModelHost, ModelLookup } from '../models/routing/model-catalog.js';
import type { AcquireOptions, Lease } from '../models/routing/model-router.js';
import { usageRecord } from '../models/usage-record.js';
import type { CanaryRoute } from './canary-prompts.js';
import { askNode } from './node-answer.js';

/** What a canary call needs of the API. */
export interface CanaryApi {
  catalog: { lookup(key: string): ModelLookup };
  router: { acquire(key: string, options: AcquireOptions): Promise<Lease> };
  pools: { pool(host: ModelHost): Dispatcher };
}

/** One canary request. */
export interface CanaryCall {
  /** The node to ask, on the model (catalog key) it shares. */
  node: string;
  key: string;
  route: CanaryRoute;
  body: Buffer;
  requestId: string;
  /** When it starts, ms since 1970 (the record's time). */
  startedAtMs: number;
  timeoutMs: number;
  signal: AbortSignal;
}

/** How it went: the answer's text (when the node answered in full) and the request's record. */
export interface CanaryResult {
  host: ModelHost;
  answer: AnswerText | undefined;
  record: RequestRecord;
}

/** The most of a canary's answer read: a few tokens are a few KiB even as a stream. */
export const MAX_CANARY_ANSWER_BYTES = 1024 * 1024;

/** Sends one canary; undefined when the node has no free slot (or no longer serves the model). */
export async function callCanary(api: CanaryApi, call: CanaryCall): Promise<CanaryResult | undefined> {
  const found = api.catalog.lookup(call.key);
  if (found.status !== 'online' || !found.hosts.some((h) => h.node.name === call.node)) return undefined;
  const exclude = new Set(found.hosts.map((h) => h.node.name).filter((name) => name !== call.node));
  let lease: Lease;
  try {
    lease = await api.router.acquire(call.key, { exclude, wait: false, signal: call.signal });
  } catch (err) {
    if (hasCode(err, ErrorCodes.NODES_BUSY) || hasCode(err, ErrorCodes.MODEL_UNAVAILABLE)) return undefined;
    throw err;
  }
  const { host } = lease;
  const route = matchRoute('POST', call.route);
  if (route === undefined || 'error' in route) throw new Error(`not a canary route: ${call.route}`);
  const request = parseLlmRequest(route.route, call.body);
  const startMs = performance.now();
  let outcome: RequestOutcome = 'node_error';
  let answer: AnswerText | undefined;
  let ttftMs: number | null = null;
  let bytesOut = 0;
  const relay = answerRelay(route.route, request);
  try {
    const got = await askNode(api.pools.pool(host), {
      method: 'POST',
      path: call.route,
      body: request.body,
      headers: { 'x-request-id': call.requestId },
      timeoutMs: call.timeoutMs,
      maxBytes: MAX_CANARY_ANSWER_BYTES,
      signal: call.signal,
    });
    ttftMs = got.ttftMs;
    bytesOut = got.body.length;
    relay.push(got.body);
    relay.end();
    if (got.status === 200 && relay.complete) {
      outcome = 'ok';
      answer = answerText(route.route.surface === 'ollama' ? 'ollama' : 'openai', request.stream, got.body);
    }
  } catch (err) {
    if (hasCode(err, ErrorCodes.NODE_TIMEOUT)) outcome = 'timeout';
  } finally {
    lease.release();
  }
  const record = usageRecord({
    id: call.requestId,
    startedAtMs: call.startedAtMs,
    host,
    caller: { keyId: null, owner: [] },
    route: route.route,
    request,
    outcome,
    meter: relay.meter,
    ttftMs,
    durationMs: performance.now() - startMs,
    bytesIn: request.body.length,
    bytesOut,
  });
  return { host, answer, record };
}
