/**
 * The guard's own answers, in the shape the route's clients expect (docs/model-api.md
 * "Error shapes clients expect"): OpenAI's
 * `{"error":{"message","type","param","code"}}` on `/v1`, Anthropic's `{"type":"error","error":{"type","message"}}`
 * on `/v1/messages`, Ollama's `{"error":"..."}` elsewhere, the
 * code also in `Proxima-Error`. And the model listings, cut down to the shared models.
 */
import { type ErrorCode, HTTP_STATUS, UPSTREAM_FAILED_STATUS } from '../../errors.js';
import { REASON_PHRASES } from '../../proto/http/error.js';
import type { ShareFilter } from './model-share.js';

/** OpenAI's error type for a status, as Ollama's compatibility layer and OpenAI name them. */
function openAiType(status: number): string {
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  return status < 500 ? 'invalid_request_error' : 'api_error';
}

/** A refusal ready to send: its status, and the whole answer's bytes. */
export interface Refusal {
  status: number;
  bytes: Buffer;
}

/**
 * Answers `code` (its status is HTTP_STATUS's) with `message` in the shape of `path`'s API. With
 * `close`, the connection ends after it: the rest of a refused body is not worth reading. An answer
 * to HEAD announces its body's length and leaves the body out.
 */
export function refusal(path: string, code: ErrorCode, message: string, options: { close?: boolean; headRequest?: boolean } = {}): Refusal {
  const status = HTTP_STATUS[code] ?? UPSTREAM_FAILED_STATUS;
  const error = path.startsWith('/v1/') ? { message, type: openAiType(status), param: null, code } : message;
  const body = Buffer.from(
    JSON.stringify(path === '/v1/messages' ? { type: 'error', error: { type: openAiType(status), message } } : { error }),
  );
  const head =
    `HTTP/1.1 ${status} ${REASON_PHRASES[status] ?? 'Error'}\r\n` +
    'Content-Type: application/json; charset=utf-8\r\n' +
    `Content-Length: ${body.length}\r\n` +
    `Proxima-Error: ${code}\r\n` +
    (options.close === true ? 'Connection: close\r\n' : '') +
    '\r\n';
  const bytes = options.headRequest === true ? Buffer.from(head, 'latin1') : Buffer.concat([Buffer.from(head, 'latin1'), body]);
  return { status, bytes };
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
