/**
 * The `model` of a JSON request body, replaced in place: every other byte stays as the user sent
 * it (whitespace, number spellings, escapes, key order). Used when a request for an alias or a
 * fallback goes to a node whose model has another name; and `stream_options.include_usage` added
 * to a streamed OpenAI request (llm-request.ts). A byte-level scan of the top-level keys, not a
 * parse: the body was parsed (or scanned) once already, and only a value's place is wanted.
 */

import { keyIs, skipSpace, skipValue, stringEnd } from './json-spans.js';

const QUOTE = 0x22;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const isSpace = (b: number | undefined): boolean => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;

/** The start of the value of every top-level member `key` (ASCII) of `body` (a JSON object, already known to be valid), in order. */
export function memberStarts(body: Buffer, key: string): number[] {
  const starts: number[] = [];
  let i = skipSpace(body, skipSpace(body, 0) + 1);
  if (body[i] === CLOSE_OBJECT) return starts;
  for (;;) {
    const keyEnd = stringEnd(body, i);
    const value = skipSpace(body, skipSpace(body, keyEnd) + 1);
    if (keyIs(body, i, keyEnd, key)) starts.push(value);
    i = skipSpace(body, skipValue(body, value));
    if (body[i] !== COMMA) return starts;
    i = skipSpace(body, i + 1);
  }
}

/**
 * `body` (a JSON object, already known to be valid) with the string value of every top-level
 * `model` key replaced by `model`; undefined when it has no such string value.
 */
export function withModel(body: Buffer, model: string): Buffer | undefined {
  const starts = memberStarts(body, 'model').filter((at) => body[at] === QUOTE);
  if (starts.length === 0) return undefined;
  const parts: Buffer[] = [];
  let at = 0;
  const replacement = Buffer.from(JSON.stringify(model), 'utf8');
  for (const start of starts) {
    parts.push(body.subarray(at, start), replacement);
    at = stringEnd(body, start);
  }
  parts.push(body.subarray(at));
  return Buffer.concat(parts);
}

/**
 * `body` (a JSON object, already known to be valid) asking for the usage chunk of an OpenAI stream,
 * as `{...body, stream_options: {...body.stream_options, include_usage: true}}` would, with every
 * other byte as sent: a member `"include_usage":true` added at the end of the last top-level
 * `stream_options` object (a duplicate key: JSON.parse keeps the last), a value that is not an
 * object replaced by `{"include_usage":true}`, and a `stream_options` member added at the end when
 * there is none. `at` is where the last `stream_options` value starts (memberStarts), -1 for none.
 */
export function withUsage(body: Buffer, at: number): Buffer {
  const splice = (start: number, end: number, text: string): Buffer =>
    Buffer.concat([body.subarray(0, start), Buffer.from(text, 'latin1'), body.subarray(end)]);
  // The text to insert before the closing brace at `close`: a comma first unless the object is empty.
  const member = (close: number, text: string): Buffer => {
    let last = close - 1;
    while (isSpace(body[last])) last--;
    return splice(close, close, body[last] === OPEN_OBJECT ? text : `,${text}`);
  };
  if (at < 0) {
    let close = body.length - 1;
    while (isSpace(body[close])) close--;
    return member(close, '"stream_options":{"include_usage":true}');
  }
  const end = skipValue(body, at);
  if (body[at] !== OPEN_OBJECT) return splice(at, end, '{"include_usage":true}');
  return member(end - 1, '"include_usage":true');
}
