/**
 * What the node lets through to its Ollama: the inference and listing routes (docs/model-api.md
 * "Ollama's routes"), and
 * nothing else: not `/api/pull`, `/push`, `/create`, `/delete`, `/copy`, blobs, nor any route a
 * newer Ollama may add. Paths are matched exactly as sent (no decoding, no trailing slash), so an
 * encoded or unusual spelling of a refused route is refused too.
 */

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
  if (method === 'POST' && MODEL_ROUTES.has(path)) return { modelInBody: true };
  return undefined;
}

/** The model a request body asks for, or why the body cannot be let through. */
export type RequestedModel = { model: string } | { problem: string };

/**
 * The model Ollama would use for this body. Ollama decodes JSON with Go's encoding/json, which
 * matches keys without regard to case and keeps the last of duplicates: so a body with `Model` or
 * `MODEL` next to `model` is refused, as the model checked might not be the one served.
 * `/api/show` takes `name` when `model` is empty.
 */
export function requestedModel(path: string, body: Buffer): RequestedModel {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return { problem: 'the request body is not valid JSON' };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return { problem: 'the request body is not a JSON object' };
  const fields = parsed as Record<string, unknown>;
  const names = path === '/api/show' ? ['model', 'name'] : ['model'];
  for (const key of Object.keys(fields)) {
    const folded = key.toLowerCase();
    if (names.includes(folded) && key !== folded) return { problem: `the field "${key}" is ambiguous; send "${folded}"` };
  }
  const model = names.map((n) => fields[n]).find((v) => typeof v === 'string' && v !== '');
  return typeof model === 'string' ? { model } : { problem: 'model is required' };
}
