/**
 * What the node lets through to its Ollama: the inference and listing routes (docs/model-api.md
 * "Ollama's routes"), and
 * nothing else: not `/api/pull`, `/push`, `/create`, `/delete`, `/copy`, blobs, nor any route a
 * newer Ollama may add. Paths are matched exactly as sent (no decoding, no trailing slash), so an
 * encoded or unusual spelling of a refused route is refused too.
 */

import { type JsonMembers, jsonMembers } from '../../proto/llm/json-members.js';

/** How the guard treats a route it lets through. */
export interface GuardRoute {
  /** The answer lists models, filtered to shared ones: `models[].name` (native) or `data[].id` (OpenAI). */
  listing?: 'native' | 'openai';
  /** The body names the model: read it (bounded) and check the model before Ollama sees anything. */
  modelInBody?: boolean;
  /** `/v1/models/{id}`: the model named by the path. */
  modelInPath?: string;
}

/** GET and HEAD routes. */
const READ_ROUTES: Readonly<Record<string, GuardRoute>> = {
  '/': {},
  '/api/version': {},
  '/api/tags': { listing: 'native' },
  '/api/ps': { listing: 'native' },
  '/v1/models': { listing: 'openai' },
};

/** POST routes: each names its model in the body. */
const MODEL_ROUTES: ReadonlySet<string> = new Set([
  '/api/chat',
  '/api/generate',
  '/api/embed',
  '/api/embeddings',
  '/api/show',
  '/v1/chat/completions',
  '/v1/completions',
  '/v1/embeddings',
  '/v1/responses',
  '/v1/messages',
]);

const MODEL_IN_BODY: GuardRoute = Object.freeze({ modelInBody: true });

/** One path segment of a model id, as Ollama's router matches `/v1/models/:model`. */
const MODEL_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;
const MODEL_PREFIX = '/v1/models/';

/** The route of `method path` (path without its query), or undefined when it is refused. */
export function guardRoute(method: string | undefined, path: string): GuardRoute | undefined {
  if (method === 'GET' || method === 'HEAD') {
    if (Object.hasOwn(READ_ROUTES, path)) return READ_ROUTES[path];
    const id = path.startsWith(MODEL_PREFIX) ? path.slice(MODEL_PREFIX.length) : '';
    return MODEL_ID.test(id) ? { modelInPath: id } : undefined;
  }
  if (method === 'POST' && MODEL_ROUTES.has(path)) return MODEL_IN_BODY;
  return undefined;
}

/**
 * Bodies larger than this are scanned (json-members.ts), not parsed: a chat body may be many MiB of
 * messages the guard has no use for, and parsing held it three more times (a 15 MiB chat raised the
 * node's RSS by 71 MiB). Smaller ones are parsed: JSON.parse takes half the CPU of the scan there.
 * Both agree on every body (test/proto/llm/json-members.test.ts).
 */
const SCAN_FROM_BYTES = 256 * 1024;

/** What jsonMembers answers, by JSON.parse. */
function parsedMembers(body: Buffer, names: readonly string[]): JsonMembers {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return { kind: 'invalid' };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return { kind: 'not-object' };
  const fields = parsed as Record<string, unknown>;
  const values = new Map<string, unknown>();
  for (const name of names) if (typeof fields[name] === 'string') values.set(name, fields[name]);
  return { kind: 'object', keys: Object.keys(fields), values };
}

const MODEL_NAMES: readonly string[] = ['model'];
const SHOW_NAMES: readonly string[] = ['model', 'name'];

/** The model a request body asks for, or why the body cannot be let through. */
export type RequestedModel = { model: string } | { problem: string };

/**
 * The model Ollama would use for this body. Ollama decodes JSON with Go's encoding/json, which
 * matches keys without regard to case and keeps the last of duplicates: so a body with `Model` or
 * `MODEL` next to `model` is refused, as the model checked might not be the one served.
 * `/api/show` takes `name` when `model` is empty.
 */
export function requestedModel(path: string, body: Buffer): RequestedModel {
  const names = path === '/api/show' ? SHOW_NAMES : MODEL_NAMES;
  const members = body.length > SCAN_FROM_BYTES ? jsonMembers(body, names) : parsedMembers(body, names);
  if (members.kind === 'invalid') return { problem: 'the request body is not valid JSON' };
  if (members.kind === 'not-object') return { problem: 'the request body is not a JSON object' };
  for (const key of members.keys) {
    const folded = key.toLowerCase();
    if (names.includes(folded) && key !== folded) return { problem: `the field "${key}" is ambiguous; send "${folded}"` };
  }
  for (const name of names) {
    const model = members.values.get(name);
    if (typeof model === 'string' && model !== '') return { model };
  }
  return { problem: 'model is required' };
}
