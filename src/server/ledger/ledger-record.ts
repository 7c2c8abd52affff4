/**
 * The records of the usage ledger, one JSON object per line of `<dataDir>/ledger.ndjson`: what the
 * super node saw of each routed request, each availability probe, each canary verdict and each
 * flag. The writer refuses a record that does not check; the reader skips (and reports) one.
 * Fields a newer version adds are kept as they are.
 */
import { ErrorCodes, ProximaError } from '../../errors.js';
import { MAX_MODEL_NAME_LENGTH } from '../../proto/llm/model-name.js';
import { labelProblem } from '../../proto/names.js';

/** How a routed request ended. */
export type RequestOutcome = 'ok' | 'node_error' | 'timeout' | 'client_abort';

export const REQUEST_OUTCOMES: readonly RequestOutcome[] = ['ok', 'node_error', 'timeout', 'client_abort'];

/** Marks a request the super node sent itself to check the node's answer against a reference. */
export interface CanaryMark {
  /** The node whose answer is the reference; null when no other node serves the digest. */
  reference: string | null;
  digest: string;
  /** The verdict, when known as the record is written; null when it comes later (a `canary` record). */
  passed: boolean | null;
}

/** One routed request, written by the API once the request is over. */
export interface RequestRecord {
  type: 'request';
  /** The request id. */
  id: string;
  /** When the request started, ISO 8601 (UTC, `Z`). Its epoch is the epoch of this time. */
  time: string;
  node: string;
  model: string;
  /** The model digest the node advertised; null when unknown. */
  digest: string | null;
  /** `details.parameter_size` as the node advertised it ("3.2B", "405M"); weighs the credit. */
  parameterSize?: string | null;
  /** The user key's id (never the key); null when the API is open. */
  keyId: string | null;
  /** The nodes the key's owner runs: traffic from them to them earns nothing. */
  keyOwner: string[];
  route: string;
  stream: boolean;
  outcome: RequestOutcome;
  finishReason: string | null;
  /** Start to the first response byte from the node; null when none came. */
  ttftMs: number | null;
  /** Start to the last byte. */
  durationMs: number;
  promptTokensReported: number | null;
  completionTokensReported: number | null;
  evalDurationNs: number | null;
  /** Content-bearing chunks the super node saw in a stream (meaningless, and ignored, for stream: false). */
  completionTokensObserved: number;
  /** Characters (UTF-16 units) of generated content delivered to the user. */
  contentChars: number;
  /** UTF-8 bytes of the same content, when counted; bounds the billed tokens more fairly than characters. */
  contentBytes?: number | null;
  promptChars: number;
  maxTokensRequested: number | null;
  bytesIn: number;
  bytesOut: number;
  canary: CanaryMark | null;
}

/** One availability probe of a node through its tunnel. */
export interface ProbeRecord {
  type: 'probe';
  node: string;
  time: string;
  ok: boolean;
  latencyMs: number | null;
  /** The models the node advertised when probed; probes while it advertised none do not count. */
  models: string[];
}

/** The verdict on a canary: the node's answer compared with the reference node's. */
export interface CanaryRecord {
  type: 'canary';
  node: string;
  /** When the canary request started (so the verdict lands in the request's epoch). */
  time: string;
  model: string;
  digest: string;
  passed: boolean;
  reason: string;
  reference: string | null;
  /** The canary request's id, when there was a request record; this verdict then replaces its mark. */
  requestId?: string | null;
}

/** A node flagged for an epoch: it loses that epoch's credit. */
export interface FlagRecord {
  type: 'flag';
  node: string;
  /** When the flag was raised. */
  time: string;
  epoch: number;
  reason: string;
}

export type LedgerRecord = RequestRecord | ProbeRecord | CanaryRecord | FlagRecord;

type Check = readonly [test: (v: unknown) => boolean, expected: string];

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;
const MAX_OWNED_NODES = 1000;

const text = (max: number): Check => [
  (v) => typeof v === 'string' && v.length > 0 && v.length <= max,
  `a string of 1 to ${max} characters`,
];
const nullable = ([test, expected]: Check): Check => [(v) => v === null || test(v), `null or ${expected}`];
const optional = ([test, expected]: Check): Check => [(v) => v === undefined || v === null || test(v), `absent, null or ${expected}`];
const count: Check = [(v) => Number.isSafeInteger(v) && (v as number) >= 0, 'a whole number from 0'];
const millis: Check = [(v) => typeof v === 'number' && Number.isFinite(v) && v >= 0, 'a number of milliseconds from 0'];
const flag: Check = [(v) => typeof v === 'boolean', 'true or false'];
const nodeName: Check = [(v) => labelProblem(v) === undefined, 'a node name'];
const time: Check = [(v) => typeof v === 'string' && ISO_UTC.test(v) && !Number.isNaN(Date.parse(v)), 'an ISO 8601 UTC time'];
const nodeList: Check = [(v) => Array.isArray(v) && v.length <= MAX_OWNED_NODES && v.every(nodeName[0]), 'a list of node names'];
const modelList: Check = [
  (v) => Array.isArray(v) && v.length <= MAX_OWNED_NODES && v.every(text(MAX_MODEL_NAME_LENGTH)[0]),
  'a list of model names',
];
const outcome: Check = [(v) => REQUEST_OUTCOMES.includes(v as RequestOutcome), `one of ${REQUEST_OUTCOMES.join(', ')}`];
const epoch: Check = [(v) => Number.isSafeInteger(v), 'a whole number'];

const CANARY_MARK: Record<keyof CanaryMark, Check> = { reference: nullable(nodeName), digest: text(128), passed: nullable(flag) };
const CANARY_MARK_FIELDS = Object.entries(CANARY_MARK);
const canaryMark: Check = [
  (v) => v === null || (isObject(v) && fieldProblem(v, CANARY_MARK_FIELDS) === undefined),
  'null or {reference, digest, passed}',
];

const FIELDS: { [T in LedgerRecord['type']]: Record<Exclude<keyof Extract<LedgerRecord, { type: T }>, 'type'>, Check> } = {
  request: {
    id: text(128),
    time,
    node: nodeName,
    model: text(MAX_MODEL_NAME_LENGTH),
    digest: nullable(text(128)),
    parameterSize: optional(text(32)),
    keyId: nullable(text(128)),
    keyOwner: nodeList,
    route: text(256),
    stream: flag,
    outcome,
    finishReason: nullable(text(64)),
    ttftMs: nullable(millis),
    durationMs: millis,
    promptTokensReported: nullable(count),
    completionTokensReported: nullable(count),
    evalDurationNs: nullable(count),
    completionTokensObserved: count,
    contentChars: count,
    contentBytes: optional(count),
    promptChars: count,
    maxTokensRequested: nullable(count),
    bytesIn: count,
    bytesOut: count,
    canary: canaryMark,
  },
  probe: { node: nodeName, time, ok: flag, latencyMs: nullable(millis), models: modelList },
  canary: {
    node: nodeName,
    time,
    model: text(MAX_MODEL_NAME_LENGTH),
    digest: text(128),
    passed: flag,
    reason: text(1024),
    reference: nullable(nodeName),
    requestId: optional(text(128)),
  },
  flag: { node: nodeName, time, epoch, reason: text(1024) },
};

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Each type's checks as a list, made once: every record appended is checked (an entries array per record was garbage). */
const FIELD_LISTS = new Map(Object.entries(FIELDS).map(([type, fields]) => [type, Object.entries(fields as Record<string, Check>)]));

function fieldProblem(value: Record<string, unknown>, fields: readonly (readonly [string, Check])[]): string | undefined {
  for (const [name, [test, expected]] of fields) {
    if (!test(value[name])) return `${name} must be ${expected}`;
  }
  return undefined;
}

/** Why `value` is not a ledger record, or undefined when it is one. */
export function recordProblem(value: unknown): string | undefined {
  if (!isObject(value)) return 'not a JSON object';
  const type = value.type;
  const fields = typeof type === 'string' ? FIELD_LISTS.get(type) : undefined;
  if (fields === undefined) return `type must be one of ${Object.keys(FIELDS).join(', ')}`;
  return fieldProblem(value, fields);
}

/** Returns `value` as a record; PRX_ERR_LEDGER_RECORD_INVALID naming the first bad field otherwise. */
export function checkRecord(value: unknown): LedgerRecord {
  const problem = recordProblem(value);
  if (problem !== undefined) throw new ProximaError(ErrorCodes.LEDGER_RECORD_INVALID, `not a ledger record: ${problem}`);
  return value as LedgerRecord;
}

/** A record's time in milliseconds since the Unix epoch. */
export function recordTimeMs(record: LedgerRecord): number {
  return Date.parse(record.time);
}
