/**
 * An API key as the key store keeps it: an id, a name, the SHA-256 of the key (the key itself is
 * shown once, when it is made, and kept nowhere), its limits, and when it was made and revoked. The
 * limits arrive as a patch (from `keys add|set` or the admin API) and are checked here, once, for
 * both; a bad value names its field.
 */
import { createHash, randomBytes } from 'node:crypto';
import { ErrorCodes, ProximaError } from '../../errors.js';
import { displayName, modelKey } from '../../proto/llm/model-name.js';
import { labelProblem } from '../../proto/names.js';

/** The span a credit budget covers: a UTC day or a UTC calendar month. */
export type BudgetPeriod = 'day' | 'month';

/** A credit budget: at most `credits` (as the rewards price requests) per `per`. */
export interface KeyBudget {
  credits: number;
  per: BudgetPeriod;
}

/** What a key may do; null is no limit (no allow-list: every model). */
export interface KeyLimits {
  requestsPerMinute: number | null;
  /** Prompt and completion tokens of the last minute's finished answers. */
  tokensPerMinute: number | null;
  budget: KeyBudget | null;
  /** The models the key may use, by catalog key (see model-name.ts); null: all. */
  models: string[] | null;
  /** The nodes the key's owner runs: their own traffic earns them nothing. */
  nodes: string[];
}

/** One stored key. */
export interface KeyRecord extends KeyLimits {
  /** `key-` and 12 hex characters; what the ledger records as `keyId`. */
  id: string;
  /** Unique among stored keys, chosen by the host. */
  name: string;
  /** SHA-256 of the key, 64 lower-case hex characters. */
  sha256: string;
  createdAt: string;
  /** Null while the key works. */
  revokedAt: string | null;
}

/** A change of a key's name or limits; a field set to null clears that limit. */
export type KeyPatch = Partial<KeyLimits> & { name?: string };

/** What every new key's clear text begins with: recognisable in a leaked file or a log. */
export const KEY_PREFIX = 'prx-';

const KEY_ID = /^key-[0-9a-f]{12}$/;
const KEY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const MAX_LIST = 1000;

/** A new key: its clear text (to show once), its id and its digest. */
export function newKey(): { key: string; id: string; sha256: string } {
  const key = `${KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
  return { key, id: `key-${randomBytes(6).toString('hex')}`, sha256: createHash('sha256').update(key, 'utf8').digest('hex') };
}

/** True for an id that {@link newKey} could have made. */
export function isStoredKeyId(value: unknown): value is string {
  return typeof value === 'string' && KEY_ID.test(value);
}

/** Why `value` is not a key name, or undefined when it is one. */
export function keyNameProblem(value: unknown): string | undefined {
  if (typeof value !== 'string' || !KEY_NAME.test(value))
    return 'must be 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit';
  return isStoredKeyId(value) ? 'must not look like a key id (key-...)' : undefined;
}

const bad = (field: string, why: string): ProximaError => new ProximaError(ErrorCodes.HTTP_BAD_REQUEST, `${field}: ${why}`);

function whole(field: string, value: unknown, max: number): number | null {
  if (value === null) return null;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > max)
    throw bad(field, `must be a whole number from 1 to ${max}, or null`);
  return value;
}

function names(field: string, value: unknown, check: (item: unknown) => string | undefined): string[] {
  if (!Array.isArray(value) || value.length > MAX_LIST) throw bad(field, `must be a list of at most ${MAX_LIST} names`);
  const out = new Set<string>();
  for (const item of value) {
    const problem = check(item);
    if (problem !== undefined) throw bad(field, `${JSON.stringify(item).slice(0, 80)} ${problem}`);
    out.add(item as string);
  }
  return [...out];
}

function budgetOf(value: unknown): KeyBudget | null {
  if (value === null) return null;
  const raw = value as { credits?: unknown; per?: unknown } | undefined;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw bad('budget', 'must be {"credits": N, "per": "day" or "month"}, or null');
  const extra = Object.keys(raw).find((k) => k !== 'credits' && k !== 'per');
  if (extra !== undefined) throw bad(`budget.${extra}`, 'is not a field of a budget');
  if (typeof raw.credits !== 'number' || !Number.isFinite(raw.credits) || raw.credits <= 0 || raw.credits > 1e12) {
    throw bad('budget.credits', 'must be a number of credits above 0');
  }
  if (raw.per !== 'day' && raw.per !== 'month') throw bad('budget.per', 'must be "day" or "month"');
  return { credits: raw.credits, per: raw.per };
}

const LIMITS = ['requestsPerMinute', 'tokensPerMinute', 'budget', 'models', 'nodes'] as const;
const FIELDS: ReadonlySet<string> = new Set(['name', ...LIMITS]);

/** Checks a patch as sent (JSON); PRX_ERR_HTTP_BAD_REQUEST naming the first bad field. Models come back as catalog keys. */
export function checkKeyPatch(raw: unknown): KeyPatch {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad('body', 'must be a JSON object');
  const input = raw as Record<string, unknown>;
  const unknown = Object.keys(input).find((k) => !FIELDS.has(k));
  if (unknown !== undefined) throw bad(unknown, `is not a field of a key (${[...FIELDS].join(', ')})`);
  const patch: KeyPatch = {};
  if (input.name !== undefined) {
    const problem = keyNameProblem(input.name);
    if (problem !== undefined) throw bad('name', problem);
    patch.name = input.name as string;
  }
  if (input.requestsPerMinute !== undefined) patch.requestsPerMinute = whole('requestsPerMinute', input.requestsPerMinute, 1_000_000);
  if (input.tokensPerMinute !== undefined) patch.tokensPerMinute = whole('tokensPerMinute', input.tokensPerMinute, 1_000_000_000);
  if (input.budget !== undefined) patch.budget = budgetOf(input.budget);
  if (input.models !== undefined) {
    const problemOf = (m: unknown): string | undefined => (modelKey(m) === undefined ? 'is not a model name' : undefined);
    patch.models = input.models === null ? null : names('models', input.models, problemOf).map((m) => modelKey(m)!);
  }
  if (input.nodes !== undefined) patch.nodes = names('nodes', input.nodes, (n) => labelProblem(n));
  return patch;
}

/** Why a stored record is not valid, or undefined when it is (for reading the file). */
export function keyRecordProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'is not an object';
  const r = value as Record<string, unknown>;
  if (!isStoredKeyId(r.id)) return 'id is not key- and 12 hex characters';
  if (keyNameProblem(r.name) !== undefined) return 'name is not a key name';
  if (typeof r.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(r.sha256)) return 'sha256 is not 64 hex characters';
  if (typeof r.createdAt !== 'string' || Number.isNaN(Date.parse(r.createdAt))) return 'createdAt is not a time';
  if (r.revokedAt !== null && (typeof r.revokedAt !== 'string' || Number.isNaN(Date.parse(r.revokedAt))))
    return 'revokedAt is neither null nor a time';
  try {
    checkKeyPatch({
      requestsPerMinute: r.requestsPerMinute,
      tokensPerMinute: r.tokensPerMinute,
      budget: r.budget,
      models: r.models,
      nodes: r.nodes,
    });
  } catch (err) {
    return (err as Error).message;
  }
  const missing = LIMITS.find((k) => !(k in r));
  return missing === undefined ? undefined : `${missing} is missing`;
}

/** A new key named `name` with the limits of `patch` (none by default): its record, and its clear text to show once. */
export function makeKey(name: string, patch: KeyPatch, now: Date): { record: KeyRecord; key: string } {
  const { key, id, sha256 } = newKey();
  const record: KeyRecord = {
    id,
    name,
    sha256,
    requestsPerMinute: patch.requestsPerMinute ?? null,
    tokensPerMinute: patch.tokensPerMinute ?? null,
    budget: patch.budget ?? null,
    models: patch.models ?? null,
    nodes: patch.nodes ?? [],
    createdAt: now.toISOString(),
    revokedAt: null,
  };
  return { record, key };
}

/** A record as the CLI and the admin API show it: everything but the digest, models by their short names. */
export function shownKey(record: KeyRecord): Omit<KeyRecord, 'sha256'> {
  const { sha256: _sha256, ...shown } = record;
  return { ...shown, models: shown.models?.map(displayName) ?? null };
}

/** PRX_ERR_NAME_TAKEN when `name` is the id of a server.yaml key: both kinds of key share one space of names. */
export function checkNotConfigured(name: string, configuredIds: readonly string[]): void {
  if (configuredIds.includes(name)) throw new ProximaError(ErrorCodes.NAME_TAKEN, `"${name}" is the id of a key in server.yaml (api.keys)`);
}
