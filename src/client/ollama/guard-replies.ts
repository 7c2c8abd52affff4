/**
 * The guard's own answers, in the shape the route's clients expect (docs/model-api.md
 * "Error shapes clients expect"): OpenAI's
 * `{"error":{"message","type","param","code"}}` on `/v1`, Anthropic's `{"type":"error","error":{"type","message"}}`
 * on `/v1/messages`, Ollama's `{"error":"..."}` elsewhere, the
 * code also in `Proxima-Error`. And the model listings, cut down to the shared models.
 */
import type { ServerResponse } from 'node:http';
import { type ErrorCode, HTTP_STATUS, UPSTREAM_FAILED_STATUS } from '../../errors.js';
import type { ShareFilter } from './model-share.js';

/** OpenAI's error type for a status, as Ollama's compatibility layer and OpenAI name them. */
function openAiType(status: number): string {
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  return status < 500 ? 'invalid_request_error' : 'api_error';
}

/**
 * Answers `code` (its status is HTTP_STATUS's) with `message` in the shape of `path`'s API. With
 * `close`, the connection ends after it: the rest of a refused body is not worth reading.
 */
export function sendRefusal(res: ServerResponse, path: string, code: ErrorCode, message: string, close = false): void {
  const status = HTTP_STATUS[code] ?? UPSTREAM_FAILED_STATUS;
  const error = path.startsWith('/v1/') ? { message, type: openAiType(status), param: null, code } : message;
  const body = JSON.stringify(path === '/v1/messages' ? { type: 'error', error: { type: openAiType(status), message } } : { error });
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Proxima-Error': code,
    ...(close ? { Connection: 'close' } : {}),
  });
  res.end(body);
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * A listing with only the shared models: `/api/tags` and `/api/ps` (`models[]` by `name`, else
 * `model`) or `/v1/models` (`data[]` by `id`); other fields as they were. Undefined when the body
 * is not such a listing.
 */
export function filterListing(kind: 'native' | 'openai', body: Buffer, isShared: ShareFilter): Buffer | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  const field = kind === 'native' ? 'models' : 'data';
  if (!isObject(parsed) || !Array.isArray(parsed[field])) return undefined;
  const nameOf = (entry: Json): unknown => (kind === 'native' ? (entry.name ?? entry.model) : entry.id);
  const kept = (parsed[field] as unknown[]).filter((entry) => {
    const name = isObject(entry) ? nameOf(entry) : undefined;
    return typeof name === 'string' && isShared(name);
  });
  return Buffer.from(JSON.stringify({ ...parsed, [field]: kept }));
}
