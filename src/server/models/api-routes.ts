/**
 * The routes of the OpenAI (`/v1`), Anthropic (`/v1/messages`) and Ollama (`/api`) endpoint. Inference routes go to a node
 * chosen by the `model` of their body; listing routes are answered from the catalog; Ollama's
 * management routes (pull, push, create, copy, delete, blobs) are refused whatever the method: a
 * volunteer's models are not the users' to change.
 */
import { ErrorCodes, ProximaError } from '../../errors.js';
import type { Surface } from './api-errors.js';

/** What a route does. */
export type RouteKind =
  | 'chat'
  | 'completion'
  | 'generate'
  | 'embedding'
  | 'responses'
  | 'messages'
  | 'show'
  | 'models'
  | 'model'
  | 'tags'
  | 'version'
  | 'key';

/** One route of the endpoint. */
export interface ApiRoute {
  surface: Surface;
  kind: RouteKind;
  /** The path as the ledger records it (`/v1/models/{id}` for every id). */
  path: string;
  method: 'GET' | 'POST';
}

/** A request matched: its route, or the error to answer with (404, 405 with `allow`, 403). */
export type RouteMatch = { route: ApiRoute; id?: string } | { error: ProximaError; surface: Surface; allow?: string };

const route = (surface: Surface, method: 'GET' | 'POST', path: string, kind: RouteKind): ApiRoute => ({ surface, method, path, kind });

const ROUTES: ReadonlyMap<string, ApiRoute> = new Map(
  [
    route('openai', 'GET', '/v1/models', 'models'),
    route('openai', 'GET', '/v1/key', 'key'),
    route('openai', 'POST', '/v1/chat/completions', 'chat'),
    route('openai', 'POST', '/v1/completions', 'completion'),
    route('openai', 'POST', '/v1/embeddings', 'embedding'),
    route('openai', 'POST', '/v1/responses', 'responses'),
    route('anthropic', 'POST', '/v1/messages', 'messages'),
    route('ollama', 'GET', '/api/tags', 'tags'),
    route('ollama', 'GET', '/api/version', 'version'),
    route('ollama', 'POST', '/api/chat', 'chat'),
    route('ollama', 'POST', '/api/generate', 'generate'),
    route('ollama', 'POST', '/api/embed', 'embedding'),
    route('ollama', 'POST', '/api/embeddings', 'embedding'),
    route('ollama', 'POST', '/api/show', 'show'),
  ].map((r) => [r.path, r]),
);

const MODEL_ROUTE = route('openai', 'GET', '/v1/models/{id}', 'model');

/** Ollama's routes that change what a node stores. */
const MANAGEMENT = new Set(['/api/pull', '/api/push', '/api/create', '/api/copy', '/api/delete']);

/** True for inference routes: those that go to a node and earn it credit. */
export function isInference(kind: RouteKind): boolean {
  return (
    kind === 'chat' || kind === 'completion' || kind === 'generate' || kind === 'embedding' || kind === 'responses' || kind === 'messages'
  );
}

/** Matches `method` and `path` (without the query); undefined for a path outside `/v1` and `/api`. */
export function matchRoute(method: string, path: string): RouteMatch | undefined {
  const surface: Surface | undefined =
    path === '/v1/messages'
      ? 'anthropic'
      : path === '/v1' || path.startsWith('/v1/')
        ? 'openai'
        : path === '/api' || path.startsWith('/api/')
          ? 'ollama'
          : undefined;
  if (surface === undefined) return undefined;
  if (MANAGEMENT.has(path) || path.startsWith('/api/blobs/')) {
    return {
      surface,
      error: new ProximaError(ErrorCodes.FORBIDDEN, `${path} changes a node's models: it is not offered through the super node`),
    };
  }
  let found = ROUTES.get(path);
  let id: string | undefined;
  if (found === undefined && path.startsWith('/v1/models/') && path.length > '/v1/models/'.length) {
    found = MODEL_ROUTE;
    id = safeDecode(path.slice('/v1/models/'.length));
  }
  if (found === undefined)
    return { surface, error: new ProximaError(ErrorCodes.HTTP_NOT_FOUND, `nothing here: ${method} ${path.slice(0, 200)}`) };
  const asked = method === 'HEAD' ? 'GET' : method;
  if (asked !== found.method) {
    const allow = found.method === 'GET' ? 'GET, HEAD' : 'POST';
    return { surface, allow, error: new ProximaError(ErrorCodes.HTTP_METHOD_NOT_ALLOWED, `${path} takes ${allow}, not ${method}`) };
  }
  return id === undefined ? { route: found } : { route: found, id };
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
