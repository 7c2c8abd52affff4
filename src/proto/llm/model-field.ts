/**
 * The `model` of a JSON request body, replaced in place: every other byte stays as the user sent
 * it (whitespace, number spellings, escapes, key order). Used when a request for an alias or a
 * fallback goes to a node whose model has another name. A byte-level scan of the top-level keys,
 * not a parse: the body was parsed once already, and only the value's place is wanted.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const OPEN = new Set([0x7b, 0x5b]); // { [
const CLOSE = new Set([0x7d, 0x5d]); // } ]
const isSpace = (b: number | undefined): boolean => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;

/** The index just past the string that starts at `start` (a quote). */
function stringEnd(body: Buffer, start: number): number {
  for (let i = start + 1; i < body.length; i++) {
    if (body[i] === BACKSLASH) i++;
    else if (body[i] === QUOTE) return i + 1;
  }
  return body.length;
}

/**
 * `body` (a JSON object, already known to be valid) with the string value of every top-level
 * `model` key replaced by `model`; undefined when it has no such string value.
 */
export function withModel(body: Buffer, model: string): Buffer | undefined {
  const spans: [number, number][] = [];
  let depth = 0;
  for (let i = 0; i < body.length; i++) {
    const b = body[i]!;
    if (OPEN.has(b)) depth++;
    else if (CLOSE.has(b)) depth--;
    else if (b === QUOTE) {
      const end = stringEnd(body, i);
      let next = end;
      while (isSpace(body[next])) next++;
      if (depth === 1 && body[next] === COLON && isModelKey(body.subarray(i, end))) {
        let value = next + 1;
        while (isSpace(body[value])) value++;
        if (body[value] === QUOTE) spans.push([value, stringEnd(body, value)]);
      }
      i = end - 1;
    }
  }
  if (spans.length === 0) return undefined;
  const parts: Buffer[] = [];
  let at = 0;
  const replacement = Buffer.from(JSON.stringify(model), 'utf8');
  for (const [start, end] of spans) {
    parts.push(body.subarray(at, start), replacement);
    at = end;
  }
  parts.push(body.subarray(at));
  return Buffer.concat(parts);
}

/** True for the key token `"model"`, however escaped. */
function isModelKey(token: Buffer): boolean {
  if (token.length === 7) return token.toString('latin1') === '"model"';
  if (token.length > 64 || !token.includes(BACKSLASH)) return false;
  try {
    return JSON.parse(token.toString('utf8')) === 'model';
  } catch {
    return false;
  }
}
