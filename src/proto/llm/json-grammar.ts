/**
 * JSON's grammar (RFC 8259) on bytes: where a string, a number or a literal that starts at an index
 * ends, or -1 when it is not one. The readers that take what they need from a JSON text without
 * JSON.parse (json-members.ts, openai-scan.ts) check what they skip with these.
 */

export const QUOTE = 0x22;
export const BACKSLASH = 0x5c;
export const COLON = 0x3a;
export const COMMA = 0x2c;
export const OPEN_OBJECT = 0x7b;
export const CLOSE_OBJECT = 0x7d;
export const OPEN_ARRAY = 0x5b;
export const CLOSE_ARRAY = 0x5d;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
/** The escapes JSON allows after a backslash: " \ / b f n r t (u is checked on its own). */
const ESCAPES = new Set([0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74]);
const LITERALS = [Buffer.from('true'), Buffer.from('false'), Buffer.from('null')];

export const isSpace = (b: number | undefined): boolean => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
const isDigit = (b: number | undefined): boolean => b !== undefined && b >= ZERO && b <= NINE;
export const isHex = (b: number | undefined): boolean =>
  b !== undefined && ((b >= ZERO && b <= NINE) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66));

/** The index just past the string starting at `at` (a quote), or -1 when it is not a valid JSON string. */
export function stringEnd(bytes: Uint8Array, at: number): number {
  const n = bytes.length;
  for (let i = at + 1; i < n; i++) {
    const b = bytes[i]!;
    if (b > BACKSLASH) continue; // lower-case letters and every byte of a multi-byte character: the common case
    if (b === QUOTE) return i + 1;
    if (b < 0x20) return -1;
    if (b === BACKSLASH) {
      const e = bytes[i + 1];
      if (e === 0x75) {
        if (!(isHex(bytes[i + 2]) && isHex(bytes[i + 3]) && isHex(bytes[i + 4]) && isHex(bytes[i + 5]))) return -1;
        i += 5;
      } else if (e !== undefined && ESCAPES.has(e)) i++;
      else return -1;
    }
  }
  return -1;
}

/** The index just past the number starting at `at`, or -1. */
function numberEnd(bytes: Uint8Array, at: number): number {
  let i = at;
  if (bytes[i] === MINUS) i++;
  if (bytes[i] === ZERO) i++;
  else if (isDigit(bytes[i])) while (isDigit(bytes[i])) i++;
  else return -1;
  if (bytes[i] === DOT) {
    i++;
    if (!isDigit(bytes[i])) return -1;
    while (isDigit(bytes[i])) i++;
  }
  if (bytes[i] === 0x65 || bytes[i] === 0x45) {
    i++;
    if (bytes[i] === PLUS || bytes[i] === MINUS) i++;
    if (!isDigit(bytes[i])) return -1;
    while (isDigit(bytes[i])) i++;
  }
  return i;
}

/** The index just past a scalar (string, number, true, false, null) at `at`, or -1. */
export function scalarEnd(bytes: Uint8Array, at: number): number {
  const b = bytes[at];
  if (b === QUOTE) return stringEnd(bytes, at);
  if (b === MINUS || isDigit(b)) return numberEnd(bytes, at);
  for (const literal of LITERALS) {
    if (b !== literal[0]) continue;
    for (let k = 1; k < literal.length; k++) if (bytes[at + k] !== literal[k]) return -1;
    return at + literal.length;
  }
  return -1;
}

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
export function keyIs(b: Buffer, from: number, to: number, name: Buffer): boolean {
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

export function skipSpace(b: Buffer, at: number, end: number): number {
  let i = at;
  while (i < end) {
    const c = b[i]!;
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    i++;
  }
  return i;
}
