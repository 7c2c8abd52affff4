/**
 * Stream chunks read for metering without JSON.parse: OpenAI's SSE chunks and Ollama's NDJSON
 * lines. A chunk is a few hundred bytes of which the ledger needs a handful (the generated text's
 * size, a finish reason); parsing it whole builds a dozen strings and objects per token. This walks
 * the bytes once, checks the JSON grammar as it goes (json-members.ts' scalarEnd for what it skips), and measures the text in
 * place, following the keys that matter (RULES) down to the text.
 *
 * It reads only the plain shape sent on every token and gives up (undefined: the caller parses the
 * chunk) on anything else: a key of RULES spelled with an escape or given twice, usage, errors,
 * tool calls, OpenAI's `message` or `text`, Ollama's last line (`done` not false, its counts),
 * containers not of the shape, nesting deeper than MAX_DEPTH, and any text that is not JSON. What it
 * returns is what `readOpenAiFrame` / `readOllamaFrame` return for the parsed text (a test compares
 * them on generated chunks). The bytes must be valid UTF-8 (the caller checks).
 */

import { hexValue } from '../http/syntax.js';
import { type OllamaFrame, type OpenAiFrame, plainOllamaFrame, plainOpenAiFrame } from './frames.js';
import { scalarEnd } from './json-members.js';

// Module-local, not imported: V8 folds a module's own constants into hot loops, not imported or exported ones.
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

/** Nesting the skipped values may have; deeper ones are left to JSON.parse. */
const MAX_DEPTH = 32;

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

/** The key `b[from, to)` is `name`. */
function keyIs(b: Buffer, from: number, to: number, name: Buffer): boolean {
  if (to - from !== name.length) return false;
  for (let k = 0; k < name.length; k++) if (b[from + k] !== name[k]) return false;
  return true;
}

/** What the last measureString measured: UTF-16 units, UTF-8 bytes, and whether it held an escape. */
export const measured = { chars: 0, bytes: 0, escaped: false };

/**
 * Where the string whose opening quote is at `at` ends (past its closing quote), or -1 when it is
 * not a JSON string; its size is left in `measured`, as String.length and
 * Buffer.byteLength count it (raw UTF-8: a lead byte starts a character, a 4-byte one two UTF-16
 * units; `\uXXXX` its code unit, a surrogate pair one 4-byte character, a lone surrogate U+FFFD).
 */
export function measureString(b: Buffer, at: number, end: number): number {
  let chars = 0;
  let bytes = 0;
  measured.escaped = false;
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
    measured.escaped = true;
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
  measured.chars = chars;
  measured.bytes = bytes;
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

/** What a value is, by where it sits: containers of the shape, values read, values skipped. */
const OTHER = 0; // anything: checked and skipped
export const CHUNK = 1; // an OpenAI chunk
const CHOICES = 2;
const CHOICE = 3;
const DELTA = 4;
export const LINE = 5; // an Ollama line
const MESSAGE = 6;
const TEXT = 7; // generated text: measured when a string
const FINISH = 8; // OpenAI's finish_reason: kept when a string
const NOT_DONE = 9; // Ollama's done: must be false (the last line, with its counts, is parsed)
const GIVE_UP = -1;

/** Per container of the shape: its keys that matter and where each puts its value. */
const k = (name: string, next: number): [Buffer, number] => [Buffer.from(name), next];
const RULES: (readonly [Buffer, number][])[] = [];
RULES[CHUNK] = [k('choices', CHOICES), k('usage', GIVE_UP), k('error', GIVE_UP)];
RULES[CHOICE] = [k('finish_reason', FINISH), k('delta', DELTA), k('message', GIVE_UP), k('text', GIVE_UP)];
RULES[DELTA] = [k('content', TEXT), k('reasoning', TEXT), k('reasoning_content', TEXT), k('tool_calls', GIVE_UP)];
RULES[LINE] = [
  k('message', MESSAGE),
  k('response', TEXT),
  k('thinking', TEXT),
  k('done', NOT_DONE),
  ...['error', 'done_reason', 'prompt_eval_count', 'eval_count', 'eval_duration', 'total_duration'].map((n) => k(n, GIVE_UP)),
];
RULES[MESSAGE] = [k('content', TEXT), k('thinking', TEXT), k('tool_calls', GIVE_UP)];

/** Per open container: where it sits, whether it is an object, the keys of RULES seen (bits). Reused. */
const place = new Uint8Array(MAX_DEPTH);
const isObject = new Uint8Array(MAX_DEPTH);
const seenKeys = new Uint32Array(MAX_DEPTH);

/** Where the key `b[from, to)` of the object at `depth` puts its value; GIVE_UP for a rule's or a repeated key. */
function keyPlace(b: Buffer, from: number, to: number, depth: number): number {
  const rules = RULES[place[depth]!];
  if (rules === undefined) return OTHER;
  for (let r = 0; r < rules.length; r++) {
    const [name, next] = rules[r]!;
    if (!keyIs(b, from, to, name)) continue;
    const bit = 1 << r;
    if (next === GIVE_UP || (seenKeys[depth]! & bit) !== 0) return GIVE_UP; // JSON.parse keeps the last of twins
    seenKeys[depth]! |= bit;
    return next;
  }
  return OTHER;
}

/**
 * What the last walk read, and where its last measured text string lay (`textAt`, its opening
 * quote, -1 when none; `textEnd`, past its closing quote) with its own counts: chunk-scanner.ts
 * keeps the bytes around it as a template for the stream's next chunks.
 */
export const read = {
  chars: 0,
  bytes: 0,
  finishReason: undefined as string | undefined,
  textAt: -1,
  textEnd: -1,
  textChars: 0,
  textBytes: 0,
};

/** The element of an array sitting at `where`. */
const elementOf = (where: number): number => (where === CHOICES ? CHOICE : OTHER);

/** Walks the JSON text `b[start, end)`, an object of shape `top`; false when it gives up. */
export function walk(b: Buffer, start: number, end: number, top: number): boolean {
  read.chars = 0;
  read.bytes = 0;
  read.finishReason = undefined;
  read.textAt = -1;
  let depth = -1;
  let where = top; // of the value at `i`
  let i = skipSpace(b, start, end);
  for (;;) {
    // A value starts at i.
    const c = i < end ? b[i]! : -1;
    const free = where === OTHER || where === TEXT || where === FINISH;
    if (where === NOT_DONE) {
      if (!keyIs(b, i, Math.min(i + 5, end), FALSE)) return false;
      i += 5;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (!free && (where === CHOICES ? c !== OPEN_ARRAY : c !== OPEN_OBJECT)) return false;
      if (++depth === MAX_DEPTH) return false;
      place[depth] = free ? OTHER : where;
      isObject[depth] = c === OPEN_OBJECT ? 1 : 0;
      seenKeys[depth] = 0;
      i = skipSpace(b, i + 1, end);
      if (i < end && b[i] === (c === OPEN_OBJECT ? CLOSE_OBJECT : CLOSE_ARRAY)) {
        depth--;
        i++;
      } else if (c === OPEN_OBJECT) {
        where = GIVE_UP; // a key follows
      } else {
        where = elementOf(place[depth]!);
        continue;
      }
    } else {
      if (!free) return false;
      if (c === QUOTE) {
        const after = measureString(b, i, end);
        if (after < 0) return false;
        if (where === TEXT) {
          read.chars += measured.chars;
          read.bytes += measured.bytes;
          read.textAt = i;
          read.textEnd = after;
          read.textChars = measured.chars;
          read.textBytes = measured.bytes;
        } else if (where === FINISH && read.finishReason === undefined) {
          if (measured.escaped) return false; // JSON.parse would decode it
          read.finishReason = b.toString('utf8', i + 1, after - 1);
        }
        i = after;
      } else {
        i = scalarEnd(b, i);
        if (i < 0 || i > end) return false;
      }
    }
    // After a value (or, with GIVE_UP, before a key): commas, closers, keys.
    for (;;) {
      if (where !== GIVE_UP) {
        i = skipSpace(b, i, end);
        if (depth < 0) return i === end;
        const d = i < end ? b[i]! : -1;
        i++;
        if (d === (isObject[depth] === 1 ? CLOSE_OBJECT : CLOSE_ARRAY)) {
          depth--;
          continue;
        }
        if (d !== COMMA) return false;
        i = skipSpace(b, i, end);
        if (isObject[depth] === 0) {
          where = elementOf(place[depth]!);
          break;
        }
      }
      // A key, its colon, and the place of its value.
      if (i >= end || b[i] !== QUOTE) return false;
      const after = measureString(b, i, end);
      if (after < 0 || measured.escaped) return false; // an escaped key might spell one that matters
      where = keyPlace(b, i + 1, after - 1, depth);
      if (where === GIVE_UP) return false;
      i = skipSpace(b, after, end);
      if (i >= end || b[i] !== COLON) return false;
      i = skipSpace(b, i + 1, end);
      break;
    }
  }
}

const FALSE = Buffer.from('false');

/**
 * The frame of the OpenAI chunk whose JSON text is `b[start, end)`, as readOpenAiFrame reads it
 * parsed; undefined when the chunk is not of the plain shape (parse it then).
 */
export function scanOpenAiChunk(b: Buffer, start: number, end: number): OpenAiFrame | undefined {
  if (!walk(b, start, end, CHUNK)) return undefined;
  return plainOpenAiFrame(read.chars, read.bytes, read.finishReason);
}

/**
 * The frame of the Ollama line (not the last: `done` false or absent) whose JSON text is
 * `b[start, end)`, as readOllamaFrame reads it parsed; undefined when it is not of the plain shape.
 */
export function scanOllamaLine(b: Buffer, start: number, end: number): OllamaFrame | undefined {
  if (!walk(b, start, end, LINE)) return undefined;
  return plainOllamaFrame(read.chars, read.bytes);
}
