/**
 * OpenAI stream chunks read for metering without JSON.parse. A chunk is a few hundred bytes of
 * which the ledger needs a handful (the finish reason and the generated text's size); parsing it
 * whole builds a dozen strings and objects per token. This walks the bytes once, checks the JSON
 * grammar as it goes (json-grammar.ts), and measures the text in place.
 *
 * It reads only the plain shape Ollama's /v1 layer and OpenAI send on every token, and gives up
 * (undefined: the caller parses the chunk) on anything else: a key it reads spelled with an escape
 * or given twice, `usage`, `error`, a `message`, `text` or `tool_calls`, `choices` that are not an
 * array of objects, a `delta` that is not an object, nesting deeper than MAX_DEPTH, and any text
 * that is not JSON. What it returns is what `readOpenAiFrame(JSON.parse(text))` returns (a test
 * compares the two on generated chunks). The bytes must be valid UTF-8 (the caller checks).
 */
import type { OpenAiFrame } from './frames.js';
import { BACKSLASH, CLOSE_ARRAY, CLOSE_OBJECT, COLON, COMMA, OPEN_ARRAY, OPEN_OBJECT, QUOTE, scalarEnd } from './json-grammar.js';

/** Nesting the skipped values may have; deeper ones are left to JSON.parse. */
const MAX_DEPTH = 32;

/** The keys read, as bytes: a key matches when its bytes (escape-free) are these. */
const KEY = {
  choices: Buffer.from('choices'),
  usage: Buffer.from('usage'),
  error: Buffer.from('error'),
  finishReason: Buffer.from('finish_reason'),
  delta: Buffer.from('delta'),
  message: Buffer.from('message'),
  text: Buffer.from('text'),
  content: Buffer.from('content'),
  reasoning: Buffer.from('reasoning'),
  reasoningContent: Buffer.from('reasoning_content'),
  toolCalls: Buffer.from('tool_calls'),
};

/** What the value about to be read is, by where it sits. */
const OTHER = 0; // anything: checked and skipped
const TOP = 1;
const CHOICES = 2;
const CHOICE = 3;
const DELTA = 4;
const FINISH = 5; // a choice's finish_reason
const TEXT = 6; // a delta's content, reasoning or reasoning_content

/** Keys of one object read so far, as bits: a second one gives up (JSON.parse keeps the last). */
const SEEN_CHOICES = 1;
const SEEN_FINISH = 2;
const SEEN_DELTA = 4;
const SEEN_CONTENT = 8;
const SEEN_REASONING = 16;
const SEEN_REASONING_CONTENT = 32;

/** Per open container: where it sits, whether it is an object, the keys read. Reused: one walk at a time. */
const place = new Uint8Array(MAX_DEPTH);
const isObject = new Uint8Array(MAX_DEPTH);
const seenKeys = new Uint8Array(MAX_DEPTH);

/** The code unit of the four hex digits at `at` (before `end`), or -1. */
function unitAt(b: Buffer, at: number, end: number): number {
  let unit = 0;
  for (let k = at; k < at + 4; k++) {
    const d = k < end ? hexValue(b[k]!) : -1;
    if (d < 0) return -1;
    unit = unit * 16 + d;
  }
  return unit;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  return l >= 0x61 && l <= 0x66 ? l - 0x57 : -1;
}

/** The key `b[from, to)` is `name`. */
function keyIs(b: Buffer, from: number, to: number, name: Buffer): boolean {
  if (to - from !== name.length) return false;
  for (let k = 0; k < name.length; k++) if (b[from + k] !== name[k]) return false;
  return true;
}

/** What the string ending at `stringEnd` (past its quote) measured, and whether it had an escape. */
let measuredChars = 0;
let measuredBytes = 0;
let hadEscape = false;

/**
 * Where the string whose opening quote is at `at` ends (past its closing quote), or -1 when it is
 * not a JSON string; its size is left in measuredChars/measuredBytes, as String.length and
 * Buffer.byteLength count it (raw UTF-8: a lead byte starts a character, a 4-byte one two UTF-16
 * units; `\uXXXX` its code unit, a surrogate pair one 4-byte character, a lone surrogate U+FFFD).
 */
function measureString(b: Buffer, at: number, end: number): number {
  let chars = 0;
  let bytes = 0;
  hadEscape = false;
  let i = at + 1;
  for (;;) {
    if (i >= end) return -1;
    const c = b[i]!;
    if (c === QUOTE) break;
    if (c !== BACKSLASH) {
      if (c < 0x20) return -1;
      if (c < 0x80 || c >= 0xc0) chars += c >= 0xf0 ? 2 : 1;
      bytes++;
      i++;
      continue;
    }
    hadEscape = true;
    const e = i + 1 < end ? b[i + 1]! : -1;
    if (e !== 0x75) {
      if (e !== 0x22 && e !== 0x5c && e !== 0x2f && e !== 0x62 && e !== 0x66 && e !== 0x6e && e !== 0x72 && e !== 0x74) return -1;
      chars++;
      bytes++;
      i += 2;
      continue;
    }
    const unit = unitAt(b, i + 2, end);
    if (unit < 0) return -1;
    const low = unit >= 0xd800 && unit <= 0xdbff && b[i + 6] === BACKSLASH && b[i + 7] === 0x75 ? unitAt(b, i + 8, end) : -1;
    if (low >= 0xdc00 && low <= 0xdfff) {
      chars += 2;
      bytes += 4;
      i += 12;
    } else {
      chars++;
      bytes += unit < 0x80 ? 1 : unit < 0x800 ? 2 : 3;
      i += 6;
    }
  }
  measuredChars = chars;
  measuredBytes = bytes;
  return i + 1;
}

function skipSpace(b: Buffer, at: number, end: number): number {
  let i = at;
  while (i < end) {
    const c = b[i]!;
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    i++;
  }
  return i;
}

/** Where the key at `at` of an object sitting at `where` puts its value, with `seen` updated; -1 gives up. */
function keyPlace(b: Buffer, from: number, to: number, where: number, depth: number): number {
  const seen = seenKeys[depth]!;
  let bit = 0;
  let next = OTHER;
  if (where === TOP) {
    if (keyIs(b, from, to, KEY.choices)) {
      bit = SEEN_CHOICES;
      next = CHOICES;
    } else if (keyIs(b, from, to, KEY.usage) || keyIs(b, from, to, KEY.error)) return -1;
  } else if (where === CHOICE) {
    if (keyIs(b, from, to, KEY.finishReason)) {
      bit = SEEN_FINISH;
      next = FINISH;
    } else if (keyIs(b, from, to, KEY.delta)) {
      bit = SEEN_DELTA;
      next = DELTA;
    } else if (keyIs(b, from, to, KEY.message) || keyIs(b, from, to, KEY.text)) return -1;
  } else if (where === DELTA) {
    if (keyIs(b, from, to, KEY.content)) {
      bit = SEEN_CONTENT;
      next = TEXT;
    } else if (keyIs(b, from, to, KEY.reasoning)) {
      bit = SEEN_REASONING;
      next = TEXT;
    } else if (keyIs(b, from, to, KEY.reasoningContent)) {
      bit = SEEN_REASONING_CONTENT;
      next = TEXT;
    } else if (keyIs(b, from, to, KEY.toolCalls)) return -1;
  }
  if ((seen & bit) !== 0) return -1;
  seenKeys[depth] = seen | bit;
  return next;
}

/**
 * The frame of the OpenAI chunk whose JSON text is `b[start, end)`, as readOpenAiFrame reads it
 * parsed; undefined when the chunk is not of the plain shape (parse it then).
 */
export function scanOpenAiChunk(b: Buffer, start: number, end: number): OpenAiFrame | undefined {
  let chars = 0;
  let bytes = 0;
  let finishReason: string | undefined;
  let depth = -1;
  let where = TOP; // of the value at `i`
  let i = skipSpace(b, start, end);
  for (;;) {
    // A value starts at i.
    const c = i < end ? b[i]! : -1;
    if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (where === CHOICES ? c !== OPEN_ARRAY : where !== OTHER && where !== FINISH && where !== TEXT && c !== OPEN_OBJECT)
        return undefined;
      if (++depth === MAX_DEPTH) return undefined;
      place[depth] = where === FINISH || where === TEXT ? OTHER : where;
      isObject[depth] = c === OPEN_OBJECT ? 1 : 0;
      seenKeys[depth] = 0;
      i = skipSpace(b, i + 1, end);
      if (i < end && b[i] === (c === OPEN_OBJECT ? CLOSE_OBJECT : CLOSE_ARRAY)) {
        depth--;
        i++;
      } else if (c === OPEN_OBJECT) {
        where = -1; // a key follows
      } else {
        where = place[depth] === CHOICES ? CHOICE : OTHER;
        continue;
      }
    } else {
      if (where !== OTHER && where !== FINISH && where !== TEXT) return undefined;
      if (c === QUOTE) {
        const after = measureString(b, i, end);
        if (after < 0) return undefined;
        if (where === TEXT) {
          chars += measuredChars;
          bytes += measuredBytes;
        } else if (where === FINISH && finishReason === undefined) {
          if (hadEscape) return undefined; // JSON.parse would decode it
          finishReason = b.toString('utf8', i + 1, after - 1);
        }
        i = after;
      } else {
        i = scalarEnd(b, i);
        if (i < 0 || i > end) return undefined;
      }
    }
    // After a value (or a key is due): commas, closers, keys.
    for (;;) {
      if (where !== -1) {
        i = skipSpace(b, i, end);
        if (depth < 0) return i === end ? frame(chars, bytes, finishReason) : undefined;
        const d = i < end ? b[i]! : -1;
        i++;
        if (d === (isObject[depth] === 1 ? CLOSE_OBJECT : CLOSE_ARRAY)) {
          depth--;
          continue;
        }
        if (d !== COMMA) return undefined;
        i = skipSpace(b, i, end);
        if (isObject[depth] === 0) {
          where = place[depth] === CHOICES ? CHOICE : OTHER;
          break;
        }
      }
      // A key, its colon, and the place of its value.
      if (i >= end || b[i] !== QUOTE) return undefined;
      const after = measureString(b, i, end);
      if (after < 0 || hadEscape) return undefined; // an escaped key might spell one that is read
      where = keyPlace(b, i + 1, after - 1, place[depth]!, depth);
      if (where < 0) return undefined;
      i = skipSpace(b, after, end);
      if (i >= end || b[i] !== COLON) return undefined;
      i = skipSpace(b, i + 1, end);
      break;
    }
  }
}

function frame(chars: number, bytes: number, finishReason: string | undefined): OpenAiFrame {
  return { finishReason, usage: undefined, contentChars: chars, contentBytes: bytes, toolCallChars: 0, usageOnly: false, error: undefined };
}
