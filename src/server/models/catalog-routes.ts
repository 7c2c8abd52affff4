/**
 * The listing routes, answered from the catalog without asking a node: OpenAI's `GET /v1/models`
 * and `GET /v1/models/{id}`, Ollama's `GET /api/tags` and `GET /api/version`. Lists are the union
 * over online nodes, one entry per model (the first node's advertisement, by node name), and one per
 * alias with an online node model (listed by its configured name, with the first such node's advert).
 */

import { ErrorCodes, ProximaError } from '../../errors.js';
import type { HttpResponse } from '../../http/exchange.js';
import { displayName, modelKey, modelOwner } from '../../proto/llm/model-name.js';
import { SECOND_MS } from '../../time.js';
import type { ModelHost } from './routing/model-catalog.js';
import type { ModelNames } from './routing/model-names.js';

/** The Ollama API version the endpoint speaks, for `/api/version` (the nodes' own versions vary). */
export const OLLAMA_API_VERSION = '0.12.6';

/** The advertisement that stands for a model in lists: the first node's, by name. */
function first(hosts: readonly ModelHost[]): ModelHost {
  return [...hosts].sort((a, b) => (a.node.name < b.node.name ? -1 : a.node.name > b.node.name ? 1 : 0))[0]!;
}

/** Unix seconds of the latest `modifiedAt` among the hosts; 0 when none says. */
function created(hosts: readonly ModelHost[]): number {
  let latest = 0;
  for (const h of hosts) {
    const ms = h.model.modifiedAt === undefined ? NaN : Date.parse(h.model.modifiedAt);
    if (Number.isFinite(ms) && ms > latest) latest = ms;
  }
  return Math.floor(latest / SECOND_MS);
}

function openaiModel(id: string, key: string, hosts: readonly ModelHost[]): Record<string, unknown> {
  return { id, object: 'model', created: created(hosts), owned_by: modelOwner(key) };
}

/** The models a key may use (catalog keys); null or absent: every model. */
export type ModelAllowList = ReadonlySet<string> | null | undefined;

/** What the listings read: the catalog with its aliases. */
type Listed = Pick<ModelNames, 'online' | 'lookup'>;

/** The catalog's online models and aliases, less those a key may not use: to it they do not exist. */
function online(catalog: Listed, allowed: ModelAllowList): ReturnType<ModelNames['online']> {
  const all = catalog.online();
  return allowed === null || allowed === undefined ? all : all.filter(({ key }) => allowed.has(key));
}

/** `GET /v1/models` */
export function listOpenAiModels(catalog: Listed, allowed?: ModelAllowList): unknown {
  return {
    object: 'list',
    data: online(catalog, allowed).map(({ key, hosts, name }) => openaiModel(name ?? displayName(key), key, hosts)),
  };
}

/**
 * `GET /v1/models/{id}`: the id as asked (as Ollama echoes it); PRX_ERR_MODEL_NOT_FOUND when nobody
 * shares it, PRX_ERR_MODEL_UNAVAILABLE when only offline nodes do.
 */
export function retrieveOpenAiModel(catalog: Listed, id: string, allowed?: ModelAllowList): unknown {
  const key = modelKey(id);
  const hidden = key === undefined || (allowed !== null && allowed !== undefined && !allowed.has(key));
  const found = hidden ? { status: 'unknown' as const } : catalog.lookup(key);
  if (found.status === 'unknown')
    throw new ProximaError(ErrorCodes.MODEL_NOT_FOUND, `the model ${id.slice(0, 256)} does not exist on any node`);
  if (found.status === 'offline')
    throw new ProximaError(ErrorCodes.MODEL_UNAVAILABLE, `every node sharing ${displayName(key!)} is offline`);
  return openaiModel(id, key!, found.hosts);
}

/** `GET /api/tags` */
export function listOllamaTags(catalog: Listed, allowed?: ModelAllowList): unknown {
  const models = online(catalog, allowed).map(({ key, hosts, name: alias }) => {
    const { model } = first(hosts);
    const name = alias ?? displayName(key);
    const entry: Record<string, unknown> = { name, model: name };
    if (model.modifiedAt !== undefined) entry.modified_at = model.modifiedAt;
    if (model.size !== undefined) entry.size = model.size;
    entry.digest = model.digest;
    if (model.details !== undefined) entry.details = model.details;
    return entry;
  });
  return { models };
}

/** `GET /api/version` */
export function ollamaVersion(): unknown {
  return { version: OLLAMA_API_VERSION };
}

/** Sends a listing answer (a HEAD gets the head only). */
export function sendListing(res: HttpResponse, body: unknown, headers: Record<string, string>, head: boolean): void {
  const text = JSON.stringify(body);
  res.writeHead(200, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    'cache-control': 'no-cache',
  });
  res.end(head ? undefined : text);
}
