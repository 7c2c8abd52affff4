/**
 * Walking a JSON text already known to be valid (json-members.ts checked it) and valid UTF-8, by
 * byte offsets: skipping a value, a container's items or an object's members, the length a string
 * has once parsed, and its text written into a bounded buffer of UTF-16 code units. Nothing here
 * builds a string or a parsed value of the body; each helper reads only the bytes it walks over.
 */

// Module-local, as in json-members.ts: V8 folds a module's own constants into its loops.
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const U = 0x75;
/** A string longer than this is skipped with Buffer.indexOf (a native search) rather than byte by byte. */
const SHORT_STRING = 64;

/** The index of the first byte at or after `i` that is not JSON whitespace. */
export function skipSpace(b: Uint8Array, i: number): number {
  for (;;) {
    const c = b[i];
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return i;
    i++;
  }
}

/** The index just past the string that starts at `at` (a quote). */
export function stringEnd(b: Buffer, at: number): number {
  const short = Math.min(at + SHORT_STRING, b.length);
  let i = at + 1;
  for (; i < short; i++) {
    const c = b[i];
    if (c === QUOTE) return i + 1;
    if (c === BACKSLASH) i++;
  }
  for (;;) {
    const q = b.indexOf(QUOTE, i);
    if (q < 0) return b.length;
    let k = q - 1;
    while (b[k] === BACKSLASH) k--;
    if ((q - 1 - k) % 2 === 0) return q + 1; // not escaped: an even run of backslashes before it
    i = q + 1;
  }
}

/** The index just past the value that starts at `at`. */
export function skipValue(b: Buffer, at: number): number {
  const c = b[at];
  if (c === QUOTE) return stringEnd(b, at);
  if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
    let depth = 1;
    let i = at + 1;
    while (depth > 0) {
      const d = b[i];
      if (d === QUOTE) {
        i = stringEnd(b, i);
        continue;
      }
      if (d === OPEN_OBJECT || d === OPEN_ARRAY) depth++;
      else if (d === CLOSE_OBJECT || d === CLOSE_ARRAY) depth--;
      i++;
    }
    return i;
  }
  // A number or a literal: up to the byte that ends it.
  let i = at + 1;
  for (;;) {
    const d = b[i];
    if (d === undefined || d === COMMA || d === CLOSE_OBJECT || d === CLOSE_ARRAY || d === 0x20 || d === 0x0a || d === 0x0d || d === 0x09)
      return i;
    i++;
  }
}

/** The start of the first item of the array at `at`, or -1 when it is empty. */
export function firstItem(b: Buffer, at: number): number {
  const i = skipSpace(b, at + 1);
  return b[i] === CLOSE_ARRAY ? -1 : i;
}

/** The start of the item after the one that ends at `end`, or -1 when the array ends there. */
export function nextItem(b: Buffer, end: number): number {
  const i = skipSpace(b, end);
  return b[i] === COMMA ? skipSpace(b, i + 1) : -1;
}

/** True when the key token at [start, end) (quotes included) is `key` (ASCII), however escaped. */
export function keyIs(b: Buffer, start: number, end: number, key: string): boolean {
  const n = key.length;
  if (end - start === n + 2) {
    for (let k = 0; k < n; k++) if (b[start + 1 + k] !== key.charCodeAt(k)) return false;
    return true;
  }
  // Escaped, it is longer; unescaped and of another length, it is another key.
  if (end - start > 6 * n + 2) return false;
  let k = start + 1;
  while (k < end && b[k] !== BACKSLASH) k++;
  return k < end && JSON.parse(b.toString('utf8', start, end)) === key;
}

/**
 * Reads the object at `at`: `found[k]` becomes the start of the last value of `keys[k]` (as
 * JSON.parse keeps the last of duplicates), -1 when absent. Returns the index just past the object.
 */
export function lastValues(b: Buffer, at: number, keys: readonly string[], found: number[]): number {
  for (let k = 0; k < keys.length; k++) found[k] = -1;
  let i = skipSpace(b, at + 1);
  if (b[i] === CLOSE_OBJECT) return i + 1;
  for (;;) {
    const keyEnd = stringEnd(b, i);
    const value = skipSpace(b, skipSpace(b, keyEnd) + 1);
    for (let k = 0; k < keys.length; k++) if (keyIs(b, i, keyEnd, keys[k]!)) found[k] = value;
    i = skipSpace(b, skipValue(b, value));
    if (b[i] !== COMMA) return i + 1;
    i = skipSpace(b, i + 1);
  }
}

/** The UTF-16 code units the string at `at` has once parsed (what `.length` says of it). */
export function stringUnits(b: Buffer, at: number): number {
  let n = 0;
  for (let i = at + 1; ; i++) {
    const c = b[i]!;
    if (c < 0x80) {
      if (c === QUOTE) return n;
      if (c === BACKSLASH) i += b[i + 1] === U ? 5 : 1;
      n++;
    } else if (c >= 0xc0) n += c >= 0xf0 ? 2 : 1; // a character's first byte; four bytes make a surrogate pair
  }
}

/** The JSON literal (number, true, false, null) at `at`, parsed. */
export function scalarAt(b: Buffer, at: number): unknown {
  return JSON.parse(b.toString('latin1', at, skipValue(b, at)));
}

/** The string at `at`, parsed, when it has at most `maxUnits` code units; undefined when longer. */
export function shortString(b: Buffer, at: number, maxUnits: number): string | undefined {
  const end = stringEnd(b, at);
  if (end - at - 2 > 6 * maxUnits) return undefined; // no code unit takes more than 6 bytes (\uXXXX)
  const s = JSON.parse(b.toString('utf8', at, end)) as string;
  return s.length > maxUnits ? undefined : s;
}

/**
 * The first `capacity` UTF-16 code units of a text made of pieces, without holding more: strings
 * already parsed and strings still in a body's bytes give the same units.
 */
export class TextPrefix {
  readonly units: Uint16Array;
  length = 0;

  constructor(capacity: number) {
    this.units = new Uint16Array(capacity);
  }

  get full(): boolean {
    return this.length === this.units.length;
  }

  reset(): this {
    this.length = 0;
    return this;
  }

  unit(u: number): void {
    if (this.length < this.units.length) this.units[this.length++] = u;
  }

  string(s: string): void {
    const room = Math.min(s.length, this.units.length - this.length);
    for (let k = 0; k < room; k++) this.units[this.length++] = s.charCodeAt(k);
  }

  /** The string at `at` in `b` (valid JSON, valid UTF-8), as JSON.parse would make it, up to the capacity. */
  literal(b: Buffer, at: number): void {
    const units = this.units;
    const cap = units.length;
    let n = this.length;
    for (let i = at + 1; n < cap; i++) {
      const c = b[i]!;
      if (c === QUOTE) break;
      if (c === BACKSLASH) {
        const e = b[++i]!;
        if (e === U) {
          units[n++] = Number.parseInt(b.toString('latin1', i + 1, i + 5), 16);
          i += 4;
        } else units[n++] = e === 0x62 ? 8 : e === 0x66 ? 12 : e === 0x6e ? 10 : e === 0x72 ? 13 : e === 0x74 ? 9 : e;
      } else if (c < 0x80) units[n++] = c;
      else if (c < 0xe0) units[n++] = ((c & 0x1f) << 6) | (b[++i]! & 0x3f);
      else if (c < 0xf0) {
        units[n++] = ((c & 0x0f) << 12) | ((b[i + 1]! & 0x3f) << 6) | (b[i + 2]! & 0x3f);
        i += 2;
      } else {
        const cp = (((c & 0x07) << 18) | ((b[i + 1]! & 0x3f) << 12) | ((b[i + 2]! & 0x3f) << 6) | (b[i + 3]! & 0x3f)) - 0x10000;
        i += 3;
        units[n++] = 0xd800 + (cp >> 10);
        if (n < cap) units[n++] = 0xdc00 + (cp & 0x3ff);
      }
    }
    this.length = n;
  }

  /** The first `n` code units (n ≤ length) as bytes (UTF-16, the machine's order), for hashing. */
  bytes(n = this.length): Uint8Array {
    return new Uint8Array(this.units.buffer, this.units.byteOffset, n * 2);
  }
}
