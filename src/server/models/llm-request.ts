/**
 * A request body for a node, read once: the model it is for, whether it streams, what the ledger
 * wants to know of it (the prompt's size, the tokens asked for), and the bytes to send. Those are
 * the user's bytes as they came, except for one change: a streamed OpenAI request always asks the
 * node for usage (`stream_options.include_usage`), so every stream can be metered; the usage the
 * user did not ask for is taken out again on the way back.
 */

import { isUtf8 } from 'node:buffer';
import { conversationKeys, conversationKeysAt } from '../../proto/llm/conversation.js';
import { jsonMembers } from '../../proto/llm/json-members.js';
import { firstItem, lastValues, nextItem, scalarAt, skipValue, stringEnd, stringUnits, TextPrefix } from '../../proto/llm/json-spans.js';
import { memberStarts, withUsage } from '../../proto/llm/model-field.js';
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

/**
 * From this size on, a body is read on its bytes (json-members.ts validates it, json-spans.ts reads
 * the few values wanted): no string of the whole body, no parsed copy of its messages. Below it,
 * JSON.parse, which is faster there: 93 against 122 µs at 17 KB, 607 against 667 at 140 KB, even at
 * 280 KB (bench/llm-request.ts; docs/performance-notes.md). Both ways give the same request.
 */
export const SCAN_FROM_BYTES = 256 * 1024;

/** Values larger than this are not parsed to be shown in an error (a `model` of megabytes). */
const SHOWN_VALUE_BYTES = 64 * 1024;

const QUOTE = 0x22;
const OPEN_OBJECT = 0x7b;
const OPEN_ARRAY = 0x5b;
/** The top-level members read on the bytes. */
const TOP = [
  'model',
  'stream',
  'stream_options',
  'messages',
  'prompt',
  'system',
  'suffix',
  'input',
  'instructions',
  'max_tokens',
  'max_completion_tokens',
  'max_output_tokens',
  'options',
] as const;
type Top = (typeof TOP)[number];
const TEXT_KEYS = ['text', 'content'] as const;
/** Where each TOP value starts; reused, since a body is read in one synchronous call. */
const at = new Map<string, number>();

/** Parses the body of an inference or `/api/show` request; BadFieldError (400) when it cannot go to a node. */
export function parseLlmRequest(route: ApiRoute, raw: Buffer): LlmRequest {
  // Not UTF-8: JSON.parse reads it after toString's replacement characters, which the bytes do not show.
  return raw.length >= SCAN_FROM_BYTES && isUtf8(raw) ? parseOnBytes(route, raw) : parseWithJson(route, raw);
}

/** What the route makes of the values read, whichever way they were read. */
interface Read {
  model: unknown;
  /** What an error shows of a `model` too large to parse (modelAt). */
  shown?: string;
  /** The value of `stream`: true, false, or null for anything else. */
  stream: boolean | null | undefined;
  /** `stream_options` is an object whose `include_usage` is true. */
  includeUsage: boolean;
  /** Where the last `stream_options` value starts, for the splice: undefined when not known yet, -1 when absent. */
  streamOptionsAt: number | undefined;
  maxTokens: number | null;
  promptChars: number;
  conversation: () => string[];
}

function request(route: ApiRoute, raw: Buffer, read: Read): LlmRequest {
  const bad = (shown: string): BadFieldError => new BadFieldError('model', `model must be a model name such as "llama3.2", not ${shown}`);
  if (read.shown !== undefined) throw bad(read.shown);
  if (read.model === undefined || read.model === null || read.model === '') throw new BadFieldError('model', 'model is required');
  const key = modelKey(read.model);
  if (key === undefined) throw bad(JSON.stringify(read.model).slice(0, 80));
  const native = route.surface === 'ollama';
  const streams = route.kind !== 'embedding' && route.kind !== 'show';
  // /v1 streams only when asked (a Go bool); Ollama's native chat and generate stream unless told not to.
  const stream = streams && (native ? read.stream !== false : read.stream === true);
  // Only chat and completion chunks need asking for usage: the Responses and Messages streams always end with it.
  const openai = route.surface === 'openai' && (route.kind === 'chat' || route.kind === 'completion');
  const wantsUsage = openai && stream && read.includeUsage;
  const body =
    openai && stream && !wantsUsage ? withUsage(raw, read.streamOptionsAt ?? memberStarts(raw, 'stream_options').pop() ?? -1) : raw;
  return {
    model: read.model as string,
    key,
    stream,
    wantsUsage,
    body,
    maxTokens: read.maxTokens,
    promptChars: read.promptChars,
    conversation: route.kind === 'chat' || route.kind === 'generate' || route.kind === 'completion' ? read.conversation() : [],
  };
}

/** The JSON.parse way (exported for the differential test and the benchmark; parseLlmRequest chooses). */
export function parseWithJson(route: ApiRoute, raw: Buffer): LlmRequest {
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new BadFieldError('body', 'the request body is not valid JSON');
  }
  if (!isObject(json)) throw new BadFieldError('body', 'the request body must be a JSON object');
  const stream = json.stream;
  return request(route, raw, {
    model: json.model,
    stream: stream === true || stream === false ? stream : stream === undefined ? undefined : null,
    includeUsage: isObject(json.stream_options) && json.stream_options.include_usage === true,
    streamOptionsAt: json.stream_options === undefined ? -1 : undefined, // looked for only when there is one
    maxTokens: maxTokensOf(json, route),
    promptChars: promptChars(json),
    conversation: () => conversationKeys(json, route.kind === 'chat' ? 'chat' : 'prompt'),
  });
}

/**
 * The bytes way: the body validated whole, then only the values wanted walked over. `raw` must be
 * valid UTF-8 (parseLlmRequest checks; exported for the differential test and the benchmark).
 */
export function parseOnBytes(route: ApiRoute, raw: Buffer): LlmRequest {
  for (const k of TOP) at.set(k, -1);
  const members = jsonMembers(raw, TOP, at);
  if (members.kind === 'invalid') throw new BadFieldError('body', 'the request body is not valid JSON');
  if (members.kind === 'not-object') throw new BadFieldError('body', 'the request body must be a JSON object');
  const where = (k: Top): number => at.get(k)!;
  const s = where('stream');
  const options = where('stream_options');
  const found: number[] = [];
  if (options >= 0 && raw[options] === OPEN_OBJECT) lastValues(raw, options, ['include_usage'], found);
  return request(route, raw, {
    ...modelAt(raw, where('model')),
    stream: s < 0 ? undefined : raw[s] === 0x74 ? true : raw[s] === 0x66 ? false : null,
    includeUsage: found.length > 0 && found[0]! >= 0 && raw[found[0]!] === 0x74,
    streamOptionsAt: options,
    maxTokens: maxTokensAt(raw, where, route),
    promptChars: promptCharsAt(raw, where),
    conversation: () =>
      conversationKeysAt(raw, route.kind === 'chat' ? 'chat' : 'prompt', {
        messages: where('messages'),
        prompt: where('prompt'),
        system: where('system'),
      }),
  });
}

/**
 * The `model` value at `at` (undefined: absent). One of more than SHOWN_VALUE_BYTES is no model name
 * (at most 256 characters once trimmed) and is not parsed: `shown` says what the error shows of it,
 * the same as JSON.stringify's first 80 characters for a string (its first 100 code units decide them).
 */
function modelAt(raw: Buffer, at: number): { model: unknown; shown?: string } {
  if (at < 0) return { model: undefined };
  const end = skipValue(raw, at);
  if (end - at <= SHOWN_VALUE_BYTES) return { model: JSON.parse(raw.toString('utf8', at, end)) };
  if (raw[at] !== QUOTE) return { model: null, shown: `${raw[at] === OPEN_ARRAY ? 'an array' : 'an object'} of ${end - at} bytes` };
  const prefix = new TextPrefix(100);
  prefix.literal(raw, at);
  return { model: null, shown: JSON.stringify(String.fromCharCode(...prefix.units.subarray(0, prefix.length))).slice(0, 80) };
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

function countAt(raw: Buffer, at: number): number | null {
  const c = raw[at];
  return at >= 0 && (c === 0x2d || (c! >= 0x30 && c! <= 0x39)) ? count(scalarAt(raw, at)) : null;
}

function maxTokensAt(raw: Buffer, where: (k: Top) => number, route: ApiRoute): number | null {
  if (route.kind === 'responses') return countAt(raw, where('max_output_tokens'));
  if (route.surface !== 'ollama') return countAt(raw, where('max_tokens')) ?? countAt(raw, where('max_completion_tokens'));
  const options = where('options');
  if (options < 0 || raw[options] !== OPEN_OBJECT) return null;
  const found: number[] = [];
  lastValues(raw, options, ['num_predict'], found);
  return countAt(raw, found[0]!);
}

/** textChars on the bytes of the value at `at` (-1: absent). */
function textCharsAt(raw: Buffer, at: number, depth = 0): number {
  if (at < 0) return 0;
  if (raw[at] === QUOTE) return stringUnits(raw, at);
  if (raw[at] !== OPEN_ARRAY) return 0;
  let n = 0;
  const found: number[] = [];
  for (let i = firstItem(raw, at); i >= 0; ) {
    let end: number;
    if (raw[i] === QUOTE) {
      n += stringUnits(raw, i);
      end = stringEnd(raw, i);
    } else if (raw[i] === OPEN_OBJECT) {
      end = lastValues(raw, i, TEXT_KEYS, found);
      const [text, content] = found as [number, number];
      if (text >= 0 && raw[text] === QUOTE) n += stringUnits(raw, text);
      else if (depth === 0) n += textCharsAt(raw, content, 1);
    } else end = skipValue(raw, i);
    i = nextItem(raw, end);
  }
  return n;
}

function promptCharsAt(raw: Buffer, where: (k: Top) => number): number {
  let n =
    textCharsAt(raw, where('prompt')) +
    textCharsAt(raw, where('system')) +
    textCharsAt(raw, where('suffix')) +
    textCharsAt(raw, where('input')) +
    textCharsAt(raw, where('instructions'));
  const messages = where('messages');
  if (messages < 0 || raw[messages] !== OPEN_ARRAY) return n;
  const found: number[] = [];
  for (let i = firstItem(raw, messages); i >= 0; ) {
    if (raw[i] !== OPEN_OBJECT) {
      i = nextItem(raw, skipValue(raw, i));
      continue;
    }
    const end = lastValues(raw, i, ['content'], found);
    n += textCharsAt(raw, found[0]!);
    i = nextItem(raw, end);
  }
  return n;
}
