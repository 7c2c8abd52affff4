/**
 * The `api` and `routing` sections of server.yaml: who may use the OpenAI/Ollama endpoint (keys,
 * or open), the limits on what it reads, and how requests wait for and go to nodes. A key given in
 * clear is hashed as it is read: the config never holds a user's key, only its SHA-256.
 */
import { createHash } from 'node:crypto';
import {
  boolean,
  type CheckContext,
  type Checked,
  fail,
  INVALID,
  integer,
  isSet,
  list,
  map,
  object,
  optional,
  pathOf,
  type Schema,
  scalar,
  section,
  string,
  withDefault,
} from '../../config/schema.js';
import { duration, readableFile } from '../../config/values.js';
import { readYamlFile } from '../../config/yaml.js';
import { ConfigError } from '../../errors.js';
import { labelProblem } from '../../proto/names.js';
import { HOUR_MS, MINUTE_MS, SECOND_MS } from '../../time.js';
import { type CorsConfig, corsSection } from '../api-host/cors.js';

/** One user key: its id (written to the ledger), the SHA-256 of the key, its limit and its owner's nodes. */
export interface ApiKeyConfig {
  id: string;
  /** SHA-256 of the key, 64 lower-case hex characters. */
  sha256: string;
  /** Requests a minute (bursts up to as many); unlimited when absent. */
  requestsPerMinute?: number;
  /** The nodes the key's owner runs: their own traffic earns them nothing. */
  nodes: string[];
}

/** Who may use the endpoint, and the limits on request bodies and streams. */
export interface ApiConfig {
  /** Anyone may call the endpoint; a known key still identifies its owner. */
  open: boolean;
  /** `keys` and the keys of `keysFile` together. */
  keys: ApiKeyConfig[];
  maxBodyBytes: number;
  bodyTimeoutMs: number;
  /** How often an SSE stream waiting for its first token gets a `: keep-alive` comment. */
  keepAliveIntervalMs: number;
  /** Browser clients: the origins allowed (api-host/cors.ts). */
  cors: CorsConfig;
}

/** How requests wait for a node and how long a node may take. */
export interface RoutingConfig {
  /** Requests that may wait for a free node, over all models; 0: none wait. */
  maxQueued: number;
  maxQueueWaitMs: number;
  /** Conversations remembered for prompt-cache affinity (affinity.ts); 0: off. */
  affinityEntries: number;
  /** Retry-After of a 503 (sent in whole seconds). */
  retryAfterMs: number;
  firstByteTimeoutMs: number;
  idleTimeoutMs: number;
  /** 0: no limit. */
  totalTimeoutMs: number;
  /** Nodes tried for one request (a retry happens only before the user got a byte). */
  maxAttempts: number;
  /** The circuit breaker of each node service (routing/breakers.ts). */
  breaker: { failures: number; cooldownMs: number; maxCooldownMs: number };
  /** A node flagged this epoch (a failed canary) gets no user traffic until the epoch has settled. */
  avoidFlagged: boolean;
  /** How long lists keep a model whose every host is failing or flagged. */
  unhealthyGraceMs: number;
}

const KEY_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const SHA256_HEX = /^[0-9a-fA-F]{64}$/;
const KEY_MIN_LENGTH = 16;

const clearKey = scalar<string>('a key', (v) => {
  if (typeof v !== 'string') return 'must be a string';
  if (v.length < KEY_MIN_LENGTH) return `must be at least ${KEY_MIN_LENGTH} characters`;
  return /\s/.test(v) ? 'must not contain spaces' : undefined;
});

const nodeName = scalar<string>('a node name', (v) => {
  const problem = labelProblem(v);
  return problem === undefined ? undefined : `must be a node name: ${problem}`;
});

const keyEntry: Schema<ApiKeyConfig> = map(
  object(
    {
      id: string({ pattern: KEY_ID, hint: 'letters, digits, ".", "_" or "-", at most 64' }),
      key: optional(clearKey),
      sha256: optional(string({ pattern: SHA256_HEX, hint: '64 hexadecimal characters' })),
      requestsPerMinute: optional(integer(1, 1_000_000)),
      nodes: withDefault(list(nodeName), []),
    },
    (raw, report) => {
      if (isSet(raw, 'key') && isSet(raw, 'sha256')) report('sha256', 'give key or sha256, not both');
      else if (!isSet(raw, 'key') && !isSet(raw, 'sha256')) report('key', 'required (or sha256)');
    },
  ),
  ({ id, key, sha256, requestsPerMinute, nodes }) => {
    const entry: ApiKeyConfig = { id, sha256: key === undefined ? sha256!.toLowerCase() : sha256Hex(key), nodes };
    if (requestsPerMinute !== undefined) entry.requestsPerMinute = requestsPerMinute;
    return entry;
  },
);

/** The SHA-256 of a key as the config keeps it. */
export function sha256Hex(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

const keysDocument = object({ keys: withDefault(list(keyEntry), []) });

/** `keysFile`: a YAML file with a `keys:` list of the same entries, read at load. */
function keysFromFile(file: string, at: string, ctx: CheckContext): Checked<ApiKeyConfig[]> {
  let doc: Record<string, unknown>;
  try {
    doc = readYamlFile(file);
  } catch (err) {
    const why = err instanceof ConfigError ? err.problems.map((p) => `${p.path}: ${p.message}`).join('; ') : String(err);
    return fail(ctx, at, `cannot use ${file} (${why})`);
  }
  const checked = keysDocument.check(doc, at, ctx);
  return checked === INVALID ? INVALID : checked.keys;
}

/** The schema of `api`. */
export const apiSection: Schema<ApiConfig> = map(
  section({
    open: withDefault(boolean(), false),
    keys: withDefault(list(keyEntry), []),
    keysFile: optional(readableFile()),
    maxBodyBytes: withDefault(integer(1024, 1024 * 1024 * 1024), 16 * 1024 * 1024),
    bodyTimeoutMs: withDefault(duration(1, 10 * MINUTE_MS), 30_000),
    keepAliveIntervalMs: withDefault(duration(10, 10 * MINUTE_MS), 15_000),
    cors: corsSection,
  }),
  ({ keysFile, keys, ...rest }, at, ctx) => {
    const fromFile = keysFile === undefined ? [] : keysFromFile(keysFile, pathOf(at, 'keysFile'), ctx);
    if (fromFile === INVALID) return INVALID;
    const all = [...keys, ...fromFile];
    const ids = new Set<string>();
    const digests = new Set<string>();
    for (const key of all) {
      if (ids.has(key.id)) return fail(ctx, pathOf(at, 'keys'), `the key id "${key.id}" is used twice`);
      if (digests.has(key.sha256)) return fail(ctx, pathOf(at, 'keys'), `key "${key.id}" is the same key as another`);
      ids.add(key.id);
      digests.add(key.sha256);
    }
    return { ...rest, keys: all };
  },
);

/** The schema of `routing`. */
export const routingSection: Schema<RoutingConfig> = section({
  maxQueued: withDefault(integer(0, 1_000_000), 256),
  maxQueueWaitMs: withDefault(duration(0, HOUR_MS), 30_000),
  affinityEntries: withDefault(integer(0, 10_000_000), 10_000),
  retryAfterMs: withDefault(duration(SECOND_MS, HOUR_MS), 5_000),
  firstByteTimeoutMs: withDefault(duration(1, HOUR_MS), 300_000),
  idleTimeoutMs: withDefault(duration(1, HOUR_MS), MINUTE_MS),
  totalTimeoutMs: withDefault(duration(0, 24 * HOUR_MS), 0),
  maxAttempts: withDefault(integer(1, 10), 3),
  breaker: map(
    section({
      failures: withDefault(integer(1, 1000), 3),
      cooldownMs: withDefault(duration(1, HOUR_MS), 5_000),
      maxCooldownMs: withDefault(duration(1, 24 * HOUR_MS), 5 * MINUTE_MS),
    }),
    (b, at, ctx) => (b.maxCooldownMs < b.cooldownMs ? fail(ctx, pathOf(at, 'maxCooldownMs'), 'must be at least cooldownMs') : b),
  ),
  avoidFlagged: withDefault(boolean(), true),
  unhealthyGraceMs: withDefault(duration(0, 24 * HOUR_MS), 10 * MINUTE_MS),
});
