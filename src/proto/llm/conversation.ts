/**
 * What identifies a conversation in a request body, for prompt-cache affinity: Ollama reuses its
 * cache for a prompt that begins like the previous one on the same runner, and every turn of a
 * conversation begins like the first. So a chat is known by its messages up to the first user
 * message (the system prompt and the question that opened it); a prompt (`/api/generate`,
 * `/v1/completions`) by its prefixes of 64, 256, 1,024 and 4,096 characters, the longest first, so a
 * longer follow-up still finds the prefix its predecessor was remembered under.
 *
 * A key is the SHA-256 of a text made of the body's strings (below), cut at 64 Ki UTF-16 code units
 * for a chat and at 4,096 for a prompt: the same from a parsed body (`conversationKeys`) and from its
 * bytes (`conversationKeysAt`, which decodes no more than that), so a conversation has one key
 * whichever way its body was read. The text of a chat: for each opening message, a separator, its
 * `role`, its text (`content` as a string or as parts: strings, `text`, one level of nested
 * `content`), the `url` of its `image_url` parts and its `images` (Ollama); of a prompt: `system`,
 * a NUL, then `prompt`, or a list prompt's items (strings, numbers, one level of lists).
 */
import { createHash } from 'node:crypto';
import { firstItem, lastValues, nextItem, skipValue, stringEnd, TextPrefix } from './json-spans.js';

/** Prefix lengths of a prompt, longest first. */
export const PROMPT_PREFIX_CHARS = [4096, 1024, 256, 64] as const;

/** The most code units of a chat's opening messages hashed (an image can be megabytes of base64). */
const MAX_OPENING_CHARS = 64 * 1024;

const QUOTE = 0x22;
const OPEN_OBJECT = 0x7b;
const OPEN_ARRAY = 0x5b;
/** Before each message, after each piece of text of a chat; between the system prompt and the prompt. */
const MESSAGE = 0x1e;
const PIECE = 0x1f;
const NUL = 0;
const MESSAGE_KEYS = ['role', 'content', 'images'] as const;
const PART_KEYS = ['text', 'content', 'image_url'] as const;
const URL_KEYS = ['url'] as const;

type Json = Record<string, unknown>;
type Kind = 'chat' | 'prompt';

const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

// Reused: a request's keys are made in one synchronous call.
let chatText: TextPrefix | undefined;
let promptText: TextPrefix | undefined;
const textFor = (kind: Kind): TextPrefix =>
  kind === 'chat'
    ? (chatText ??= new TextPrefix(MAX_OPENING_CHARS)).reset()
    : (promptText ??= new TextPrefix(PROMPT_PREFIX_CHARS[0])).reset();

const hash = (text: TextPrefix, n: number): string => createHash('sha256').update(text.bytes(n)).digest('base64url').slice(0, 22);

/** One key for a chat; for a prompt, one per prefix length the text reaches (the whole text when shorter than all). */
function keysOf(kind: Kind, text: TextPrefix): string[] {
  if (kind === 'chat') return [`c:${hash(text, text.length)}`];
  const reached = PROMPT_PREFIX_CHARS.filter((n) => text.length >= n);
  if (reached.length === 0) return [`p:${hash(text, text.length)}`];
  return reached.map((n) => `p${n}:${hash(text, n)}`);
}

/** The conversation keys of a parsed body, longest first; none when there are no messages or no prompt. */
export function conversationKeys(json: Json, kind: Kind): string[] {
  if (kind === 'chat') {
    const messages = json.messages;
    if (!Array.isArray(messages) || messages.length === 0) return [];
    const text = textFor(kind);
    for (const m of messages) {
      text.unit(MESSAGE);
      if (!isObject(m)) continue;
      if (typeof m.role === 'string') text.string(m.role);
      text.unit(PIECE);
      content(m.content, text, 0);
      if (Array.isArray(m.images)) for (const image of m.images) if (typeof image === 'string') piece(text, image);
      if (m.role === 'user' || text.full) break;
    }
    return keysOf(kind, text);
  }
  const prompt = json.prompt;
  if (prompt === '' || (typeof prompt !== 'string' && !Array.isArray(prompt))) return [];
  const text = textFor(kind);
  if (typeof json.system === 'string') text.string(json.system);
  text.unit(NUL);
  if (typeof prompt === 'string') text.string(prompt);
  else list(prompt, text, 0);
  return keysOf(kind, text);
}

function piece(text: TextPrefix, s: string): void {
  text.string(s);
  text.unit(PIECE);
}

function content(v: unknown, text: TextPrefix, depth: number): void {
  if (typeof v === 'string') return piece(text, v);
  if (!Array.isArray(v)) return;
  for (const part of v) {
    if (text.full) return;
    if (typeof part === 'string') piece(text, part);
    else if (!isObject(part)) continue;
    else if (typeof part.text === 'string') piece(text, part.text);
    else if (depth === 0) {
      const url = isObject(part.image_url) ? part.image_url.url : part.image_url;
      if (typeof url === 'string') piece(text, url);
      content(part.content, text, 1);
    }
  }
}

function list(items: unknown[], text: TextPrefix, depth: number): void {
  text.unit(OPEN_ARRAY);
  for (const item of items) {
    if (text.full) return;
    if (typeof item === 'string') text.string(item);
    else if (Array.isArray(item)) {
      if (depth === 0) list(item, text, 1);
    } else if (!isObject(item)) text.string(String(item));
    text.unit(PIECE);
  }
  text.unit(0x5d);
}

/**
 * The same keys, read from the bytes of a body that is valid JSON and valid UTF-8: `at` gives where
 * the last top-level `messages`, `prompt` and `system` values start (-1: absent). Walks the opening
 * messages only, and decodes at most the text hashed.
 */
export function conversationKeysAt(b: Buffer, kind: Kind, at: { messages: number; prompt: number; system: number }): string[] {
  if (kind === 'chat') {
    if (at.messages < 0 || b[at.messages] !== OPEN_ARRAY) return [];
    let i = firstItem(b, at.messages);
    if (i < 0) return [];
    const text = textFor(kind);
    const found: number[] = [];
    while (i >= 0) {
      text.unit(MESSAGE);
      if (b[i] !== OPEN_OBJECT) {
        i = nextItem(b, skipValue(b, i));
        continue;
      }
      const end = lastValues(b, i, MESSAGE_KEYS, found);
      const [role, body, images] = found as [number, number, number];
      const isString = role >= 0 && b[role] === QUOTE;
      if (isString) text.literal(b, role);
      text.unit(PIECE);
      if (body >= 0) contentAt(b, body, text, 0);
      if (images >= 0 && b[images] === OPEN_ARRAY)
        for (let j = firstItem(b, images); j >= 0 && !text.full; j = nextItem(b, skipValue(b, j))) if (b[j] === QUOTE) pieceAt(b, j, text);
      if ((isString && isUser(b, role)) || text.full) break;
      i = nextItem(b, end);
    }
    return keysOf(kind, text);
  }
  const p = at.prompt;
  if (p < 0 || (b[p] === QUOTE ? b[p + 1] === QUOTE : b[p] !== OPEN_ARRAY)) return [];
  const text = textFor(kind);
  if (at.system >= 0 && b[at.system] === QUOTE) text.literal(b, at.system);
  text.unit(NUL);
  if (b[p] === QUOTE) text.literal(b, p);
  else listAt(b, p, text, 0);
  return keysOf(kind, text);
}

/** The string at `at` is "user", however escaped. */
function isUser(b: Buffer, at: number): boolean {
  const end = stringEnd(b, at);
  return end - at <= 26 && JSON.parse(b.toString('utf8', at, end)) === 'user';
}

function pieceAt(b: Buffer, at: number, text: TextPrefix): void {
  text.literal(b, at);
  text.unit(PIECE);
}

function contentAt(b: Buffer, at: number, text: TextPrefix, depth: number): void {
  if (b[at] === QUOTE) return pieceAt(b, at, text);
  if (b[at] !== OPEN_ARRAY) return;
  const found: number[] = [];
  for (let i = firstItem(b, at); i >= 0 && !text.full; ) {
    let end: number;
    if (b[i] === QUOTE) {
      pieceAt(b, i, text);
      end = stringEnd(b, i);
    } else if (b[i] === OPEN_OBJECT) {
      end = lastValues(b, i, PART_KEYS, found);
      const [part, nested, image] = found as [number, number, number];
      if (part >= 0 && b[part] === QUOTE) pieceAt(b, part, text);
      else if (depth === 0) {
        let url = image;
        if (image >= 0 && b[image] === OPEN_OBJECT) {
          lastValues(b, image, URL_KEYS, found);
          url = found[0]!;
        }
        if (url >= 0 && b[url] === QUOTE) pieceAt(b, url, text);
        if (nested >= 0) contentAt(b, nested, text, 1);
      }
    } else end = skipValue(b, i);
    i = nextItem(b, end);
  }
}

function listAt(b: Buffer, at: number, text: TextPrefix, depth: number): void {
  text.unit(OPEN_ARRAY);
  for (let i = firstItem(b, at); i >= 0 && !text.full; ) {
    const end = skipValue(b, i);
    if (b[i] === QUOTE) text.literal(b, i);
    else if (b[i] === OPEN_ARRAY) {
      if (depth === 0) listAt(b, i, text, 1);
    } else if (b[i] !== OPEN_OBJECT) text.string(String(JSON.parse(b.toString('latin1', i, end))));
    text.unit(PIECE);
    i = nextItem(b, end);
  }
  text.unit(0x5d);
}
