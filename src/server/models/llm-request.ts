/**
 * A request body for a node, read once: the model it is for, whether it streams, what the ledger
 * wants to know of it (the prompt's size, the tokens asked for), and the bytes to send. Those are
 * the user's bytes as they came, except for one change: a streamed OpenAI request always asks the
 * node for usage (`stream_options.include_usage`), so every stream can be metered; the usage the
 * user did not ask for is taken out again on the way back.
 */

import { conversationKeys } from '../../proto/llm/conversation.js';
import { modelKey } from '../../proto/llm/model-name.js';
import { BadFieldError } from './api-errors.js';
import type { ApiRoute } from './api-routes.js';

/** A parsed request, ready to send. */
export interface LlmRequest {
  /** The model as the user named it. */
  model: string;
  /** The model's normalised name (the catalog's key). */
  key: string;
  stream: boolean;
  /** The user asked for the usage chunk of an OpenAI stream. */
  wantsUsage: boolean;
  /** What goes to the node. */
  body: Buffer;
  /** `max_tokens` (OpenAI, Anthropic), `max_output_tokens` (Responses) or `options.num_predict` (Ollama); null when unbounded. */
  maxTokens: number | null;
  /** Characters of the prompt: messages, prompt, system, suffix, input. */
  promptChars: number;
  /** What identifies its conversation, for prompt-cache affinity (conversation.ts); empty for embeddings and show. */
  conversation: string[];
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Parses the body of an inference or `/api/show` request; BadFieldError (400) when it cannot go to a node. */
export function parseLlmRequest(route: ApiRoute, raw: Buffer): LlmRequest {
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new BadFieldError('body', 'the request body is not valid JSON');
  }
  if (!isObject(json)) throw new BadFieldError('body', 'the request body must be a JSON object');
  if (json.model === undefined || json.model === null || json.model === '') throw new BadFieldError('model', 'model is required');
  const key = modelKey(json.model);
  if (key === undefined)
    throw new BadFieldError('model', `model must be a model name such as "llama3.2", not ${JSON.stringify(json.model).slice(0, 80)}`);
  const native = route.surface === 'ollama';
  const streams = route.kind !== 'embedding' && route.kind !== 'show';
  // /v1 streams only when asked (a Go bool); Ollama's native chat and generate stream unless told not to.
  const stream = streams && (native ? json.stream !== false : json.stream === true);
  // Only chat and completion chunks need asking for usage: the Responses and Messages streams always end with it.
  const openai = route.surface === 'openai' && (route.kind === 'chat' || route.kind === 'completion');
  const options = isObject(json.stream_options) ? json.stream_options : undefined;
  const wantsUsage = openai && stream && options?.include_usage === true;
  let body = raw;
  if (openai && stream && !wantsUsage)
    body = Buffer.from(JSON.stringify({ ...json, stream_options: { ...options, include_usage: true } }), 'utf8');
  return {
    model: json.model as string,
    key,
    stream,
    wantsUsage,
    body,
    maxTokens: maxTokensOf(json, route),
    promptChars: promptChars(json),
    conversation:
      route.kind === 'chat' || route.kind === 'generate' || route.kind === 'completion'
        ? conversationKeys(json, route.kind === 'chat' ? 'chat' : 'prompt')
        : [],
  };
}

function count(v: unknown): number | null {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : null;
}

function maxTokensOf(json: Json, route: ApiRoute): number | null {
  if (route.kind === 'responses') return count(json.max_output_tokens);
  if (route.surface !== 'ollama') return count(json.max_tokens) ?? count(json.max_completion_tokens);
  return isObject(json.options) ? count(json.options.num_predict) : null;
}

/**
 * Characters of text in a string, a list of strings, content parts (`{type:"text",text}`), or the
 * Responses API's input items (`{role, content}`).
 */
function textChars(v: unknown, depth = 0): number {
  if (typeof v === 'string') return v.length;
  if (!Array.isArray(v)) return 0;
  let n = 0;
  for (const part of v) {
    if (typeof part === 'string') n += part.length;
    else if (isObject(part) && typeof part.text === 'string') n += part.text.length;
    else if (isObject(part) && depth === 0) n += textChars(part.content, 1);
  }
  return n;
}

function promptChars(json: Json): number {
  let n = textChars(json.prompt) + textChars(json.system) + textChars(json.suffix) + textChars(json.input) + textChars(json.instructions);
  if (Array.isArray(json.messages)) for (const m of json.messages) if (isObject(m)) n += textChars(m.content);
  return n;
}
