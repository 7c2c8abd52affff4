/**
 * The top-level members of a JSON object, read from its bytes without parsing the rest: the body is
 * validated whole, with JSON.parse's grammar (RFC 8259), but no string, number or nested value is
 * built except the few values asked for. The node's guard needs only a request's `model`, and a
 * chat body can be many MiB of messages: parsing it whole held it three times more (a UTF-16 or
 * Latin-1 string of it, then its parsed strings).
 */

// Module-local: V8 folds a module's own constants into its loops, not exported or imported ones
// (exported, the guard's scan of a 2 MiB body took 4.1-4.4 ms instead of 3.1-3.3).
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
/** The escapes JSON allows after a backslash: " \ / b f n r t (u is checked on its own). */
const ESCAPES = new Set([0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74]);
const LITERALS = [Buffer.from('true'), Buffer.from('false'), Buffer.from('null')];

const isSpace = (b: number | undefined): boolean => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
const isDigit = (b: number | undefined): boolean => b !== undefined && b >= ZERO && b <= NINE;
const isHex = (b: number | undefined): boolean =>
  b !== undefined && ((b >= ZERO && b <= NINE) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66));

/** What a body holds: not JSON, JSON but no object, or an object's keys and the values asked for. */
export type JsonMembers =
  | { kind: 'invalid' }
  | { kind: 'not-object' }
  | {
      kind: 'object';
      /** Every top-level key, decoded, in order, duplicates included. */
      keys: string[];
      /** The last value of each key asked for, parsed (JSON.parse keeps the last of duplicates too). */
      values: Map<string, unknown>;
    };

/** The index just past the string starting at `at` (a quote), or -1 when it is not a valid JSON string. */
function stringEnd(bytes: Uint8Array, at: number): number {
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

/** The index just past a scalar (string, number, true, false, null) at `at`, or -1. chunk-scan.ts skips with it too. */
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

const decode = (bytes: Buffer, start: number, end: number): unknown => JSON.parse(bytes.toString('utf8', start, end));

/**
 * The top-level members of the JSON text in `bytes` (UTF-8, as JSON.parse(bytes.toString()) reads
 * it: invalid sequences inside strings are accepted). `wanted` keys get their last value parsed;
 * only string values are (anything else is undefined), so no nested structure is ever built.
 * With `starts`, the wanted keys' values are not parsed: each key present gets the offset where its
 * last value starts in `starts` instead (read later with json-spans.ts, once the whole text is known
 * to be valid), and `values` holds undefined for it.
 */
export function jsonMembers(bytes: Buffer, wanted: readonly string[], starts?: Map<string, number>): JsonMembers {
  const keys: string[] = [];
  const values = new Map<string, unknown>();
  const stack: number[] = []; // OPEN_OBJECT or OPEN_ARRAY per open container
  let member: string | undefined; // the top-level key whose value is being read
  let i = 0;
  const skip = (): void => {
    while (isSpace(bytes[i])) i++;
  };
  skip();
  const topIsObject = bytes[i] === OPEN_OBJECT;
  for (;;) {
    // A value starts here.
    skip();
    const start = i;
    const b = bytes[i];
    // A direct member of the top object whose value was asked for; only a string value is kept.
    const asked = member !== undefined && stack.length === 1 && wanted.includes(member);
    let opened = false;
    if (b === OPEN_OBJECT || b === OPEN_ARRAY) {
      if (asked) {
        values.set(member!, undefined);
        starts?.set(member!, start);
      }
      stack.push(b);
      i++;
      skip();
      if (bytes[i] === (b === OPEN_OBJECT ? CLOSE_OBJECT : CLOSE_ARRAY)) {
        stack.pop();
        i++;
      } else opened = true;
    } else {
      i = scalarEnd(bytes, i);
      if (i < 0) return { kind: 'invalid' };
      if (asked) {
        values.set(member!, b === QUOTE && starts === undefined ? decode(bytes, start, i) : undefined);
        starts?.set(member!, start);
      }
    }
    // After the value (or just inside an opened container): closers, then a comma or a key.
    for (;;) {
      if (!opened) skip();
      if (!opened && stack.length === 0) return i === bytes.length ? result(topIsObject, keys, values) : { kind: 'invalid' };
      const top = stack[stack.length - 1];
      if (!opened) {
        const c = bytes[i];
        if (c === (top === OPEN_OBJECT ? CLOSE_OBJECT : CLOSE_ARRAY)) {
          stack.pop();
          i++;
          continue;
        }
        if (c !== COMMA) return { kind: 'invalid' };
        i++;
        skip();
      }
      opened = false;
      if (top === OPEN_ARRAY) break;
      // An object's member: "key" : value
      if (bytes[i] !== QUOTE) return { kind: 'invalid' };
      const end = stringEnd(bytes, i);
      if (end < 0) return { kind: 'invalid' };
      if (stack.length === 1) {
        member = decode(bytes, i, end) as string;
        keys.push(member);
      }
      i = end;
      skip();
      if (bytes[i] !== COLON) return { kind: 'invalid' };
      i++;
      break;
    }
  }
}

function result(topIsObject: boolean, keys: string[], values: Map<string, unknown>): JsonMembers {
  return topIsObject ? { kind: 'object', keys, values } : { kind: 'not-object' };
}
