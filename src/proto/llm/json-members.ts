/**
 * The top-level members of a JSON object, read from its bytes without parsing the rest: the body is
 * validated whole, with JSON.parse's grammar (RFC 8259), but no string, number or nested value is
 * built except the few values asked for. The node's guard needs only a request's `model`, and a
 * chat body can be many MiB of messages: parsing it whole held it three times more (a UTF-16 or
 * Latin-1 string of it, then its parsed strings).
 */

import { CLOSE_ARRAY, CLOSE_OBJECT, COLON, COMMA, isSpace, OPEN_ARRAY, OPEN_OBJECT, QUOTE, scalarEnd, stringEnd } from './json-grammar.js';

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

const decode = (bytes: Buffer, start: number, end: number): unknown => JSON.parse(bytes.toString('utf8', start, end));

/**
 * The top-level members of the JSON text in `bytes` (UTF-8, as JSON.parse(bytes.toString()) reads
 * it: invalid sequences inside strings are accepted). `wanted` keys get their last value parsed;
 * only string values are (anything else is undefined), so no nested structure is ever built.
 */
export function jsonMembers(bytes: Buffer, wanted: readonly string[]): JsonMembers {
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
      if (asked) values.set(member!, undefined);
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
      if (asked) values.set(member!, b === QUOTE ? decode(bytes, start, i) : undefined);
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
