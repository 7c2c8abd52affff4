/**
 * Character classes of RFC 9110/9112, as one lookup table over latin1 char codes, and the few
 * scanning helpers every HTTP parser here shares.
 */

const TCHAR = 1;
const FIELD = 2;
const TARGET = 4;

/** Bit flags per latin1 code: a table lookup beats regular expressions on the hot path. */
const CLASS = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  const alnum = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
  if (alnum || "!#$%&'*+-.^_`|~".includes(String.fromCharCode(c))) CLASS[c]! |= TCHAR;
  // field-value: VCHAR / obs-text / SP / HTAB; every other control (CR, LF, NUL, DEL...) is refused.
  if ((c >= 0x21 && c <= 0x7e) || c >= 0x80 || c === 0x20 || c === 0x09) CLASS[c]! |= FIELD;
  // request-target: visible ASCII only, as llhttp: no raw UTF-8, no whitespace.
  if (c >= 0x21 && c <= 0x7e) CLASS[c]! |= TARGET;
}

export const SP = 0x20;
export const HTAB = 0x09;
export const CR = 0x0d;
export const LF = 0x0a;

/** True for SP and HTAB (OWS). */
export function isOws(code: number): boolean {
  return code === SP || code === HTAB;
}

/** The index of the first character at or after `from` (before `to`) that is not a tchar. */
export function scanToken(text: string, from: number, to: number): number {
  let i = from;
  while (i < to && (CLASS[text.charCodeAt(i)]! & TCHAR) !== 0) i++;
  return i;
}

/** The index of the first byte at or after `from` (before `to`) that is not a tchar. */
export function scanTokenBytes(bytes: Uint8Array, from: number, to: number): number {
  let i = from;
  while (i < to && (CLASS[bytes[i]!]! & TCHAR) !== 0) i++;
  return i;
}

/** The index of the first byte in [from, to) that may not stand in a field value, or -1. */
export function findBadFieldByte(bytes: Uint8Array, from: number, to: number): number {
  // Indexing bytes is about twice as fast as charCodeAt on the latin1 string: this is the hot loop.
  for (let i = from; i < to; i++) if ((CLASS[bytes[i]!]! & FIELD) === 0) return i;
  return -1;
}

/** The index of the first character in [from, to) that may not stand in a field value, or -1. */
export function findBadFieldChar(text: string, from: number, to: number): number {
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c > 255 || (CLASS[c]! & FIELD) === 0) return i;
  }
  return -1;
}

/** The index of the first character in [from, to) that may not stand in a request target, or -1. */
export function findBadTargetChar(text: string, from: number, to: number): number {
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c > 255 || (CLASS[c]! & TARGET) === 0) return i;
  }
  return -1;
}

/** True when the whole string is a non-empty token. */
export function isToken(text: string): boolean {
  return text.length > 0 && scanToken(text, 0, text.length) === text.length;
}

/**
 * The elements of a comma-separated list field, OWS trimmed and lower-cased. Empty elements are
 * kept as '' so that callers that must be strict (Transfer-Encoding) can refuse them.
 */
export function listElements(value: string): string[] {
  const out: string[] = [];
  for (const part of value.split(',')) {
    let from = 0;
    let to = part.length;
    while (from < to && isOws(part.charCodeAt(from))) from++;
    while (to > from && isOws(part.charCodeAt(to - 1))) to--;
    out.push(part.slice(from, to).toLowerCase());
  }
  return out;
}

/** A Content-Length value: 1 to 15 ASCII digits (no sign, no list); undefined when malformed. */
export function parseDecimalLength(value: string): number | undefined {
  // 15 digits stay below Number.MAX_SAFE_INTEGER, and 999 TB is beyond any real body.
  if (value.length === 0 || value.length > 15) return undefined;
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const d = value.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return undefined;
    n = n * 10 + d;
  }
  return n;
}

/** The value of a hex digit's character code (either case), or -1. */
export function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}
