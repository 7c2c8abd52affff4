/**
 * The ledger's record of one routed request (ledger-record.ts `RequestRecord`): who asked (the key's
 * id and owner, never the key), which node and model served (the node's model, whatever name was asked), how it ended, and what the super node
 * counted itself next to what the node reported.
 */

import { displayName } from '../../proto/llm/model-name.js';
import type { RequestOutcome, RequestRecord } from '../ledger/ledger-record.js';
import type { AnswerMeter } from './answer/answer-meter.js';
import type { ApiCaller } from './api-keys.js';
import type { ApiRoute } from './api-routes.js';
import type { LlmRequest } from './llm-request.js';
import type { ModelHost } from './routing/model-catalog.js';

/**
 * Where records go: the ledger in the server. Resolves once the record is durable, rejects when it
 * cannot be written; must not throw.
 */
export type UsageSink = (record: RequestRecord) => Promise<void>;

/** Everything a record is made of. */
export interface UsageFacts {
  id: string;
  /** When the request arrived, ms since 1970. */
  startedAtMs: number;
  host: ModelHost;
  caller: ApiCaller;
  route: ApiRoute;
  request: LlmRequest;
  outcome: RequestOutcome;
  meter: AnswerMeter | undefined;
  ttftMs: number | null;
  durationMs: number;
  bytesIn: number;
  bytesOut: number;
}

const text = (v: unknown, max: number): string | null => (typeof v === 'string' && v.length > 0 ? v.slice(0, max) : null);
const ms = (v: number): number => Math.round(v * 1000) / 1000;

/** The ledger record of one request. */
export function usageRecord(f: UsageFacts): RequestRecord {
  const m = f.meter;
  return {
    type: 'request',
    id: f.id,
    time: new Date(f.startedAtMs).toISOString(),
    node: f.host.node.name,
    // The model the node ran, not the alias or the model a fallback stood in for.
    model: displayName(f.host.key).slice(0, 256),
    digest: text(f.host.model.digest, 128),
    parameterSize: text(f.host.model.details?.parameter_size, 32),
    keyId: f.caller.keyId,
    keyOwner: f.caller.owner,
    route: f.route.path,
    stream: f.request.stream,
    outcome: f.outcome,
    finishReason: text(m?.finishReason, 64),
    ttftMs: f.ttftMs === null ? null : ms(f.ttftMs),
    durationMs: ms(f.durationMs),
    promptTokensReported: m?.promptTokensReported ?? null,
    completionTokensReported: m?.completionTokensReported ?? null,
    evalDurationNs: m?.evalDurationNs ?? null,
    completionTokensObserved: f.request.stream ? (m?.observedTokens ?? 0) : 0,
    contentChars: m?.contentChars ?? 0,
    contentBytes: m?.contentBytes ?? 0,
    promptChars: f.request.promptChars,
    maxTokensRequested: f.request.maxTokens,
    bytesIn: f.bytesIn,
    bytesOut: f.bytesOut,
    canary: null,
  };
}
