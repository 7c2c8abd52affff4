import { isUtf8 } from 'node:buffer';
import t from 'tap';
import { modelKey } from '../../../src/proto/llm/model-name.js';
import { BadFieldError } from '../../../src/server/models/api-errors.js';
import { type ApiRoute, matchRoute } from '../../../src/server/models/api-routes.js';
import { type LlmRequest, parseOnBytes, parseWithJson } from '../../../src/server/models/llm-request.js';
import { mutated, seededRandom } from '../../fixtures/wire/chunkings.js';
import { jsonStringInside } from '../../fixtures/wire/json-text.js';

// The parse as it was before the body was read on its bytes (commit 155e7ec), kept as the oracle:
// JSON.parse of the whole body, and the whole object re-serialised to ask for usage.
type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);
const count = (v: unknown): number | null => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : null);
function textChars(v: unknown, depth = 0): number {
  if (typeof v === 'string') return v.length;
  if (!Array.isArray(v)) return 0;
  let n = 0;
  for (const part of v) {
    if (typeof part === 'string') n += part.length;
    else if (isObject(part) && typeof part.text === 'string') n += part.text.length;
    else if (isObject(part) && depth === 0) n += textChars(part.content, 1);
  }
  return n;
}
function oracle(route: ApiRoute, raw: Buffer): Omit<LlmRequest, 'conversation'> {
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new BadFieldError('body', 'the request body is not valid JSON');
  }
  if (!isObject(json)) throw new BadFieldError('body', 'the request body must be a JSON object');
  if (json.model === undefined || json.model === null || json.model === '') throw new BadFieldError('model', 'model is required');
  const key = modelKey(json.model);
  if (key === undefined)
    throw new BadFieldError('model', `model must be a model name such as "llama3.2", not ${JSON.stringify(json.model).slice(0, 80)}`);
  const native = route.surface === 'ollama';
  const streams = route.kind !== 'embedding' && route.kind !== 'show';
  const stream = streams && (native ? json.stream !== false : json.stream === true);
  const openai = route.surface === 'openai' && (route.kind === 'chat' || route.kind === 'completion');
  const options = isObject(json.stream_options) ? json.stream_options : undefined;
  const wantsUsage = openai && stream && options?.include_usage === true;
  let body = raw;
  if (openai && stream && !wantsUsage)
    body = Buffer.from(JSON.stringify({ ...json, stream_options: { ...options, include_usage: true } }), 'utf8');
  let maxTokens: number | null;
  if (route.kind === 'responses') maxTokens = count(json.max_output_tokens);
  else if (route.surface !== 'ollama') maxTokens = count(json.max_tokens) ?? count(json.max_completion_tokens);
  else maxTokens = isObject(json.options) ? count(json.options.num_predict) : null;
  let promptChars =
    textChars(json.prompt) + textChars(json.system) + textChars(json.suffix) + textChars(json.input) + textChars(json.instructions);
  if (Array.isArray(json.messages)) for (const m of json.messages) if (isObject(m)) promptChars += textChars(m.content);
  return { model: json.model as string, key, stream, wantsUsage, body, maxTokens, promptChars };
}

const rnd = seededRandom(16); // mulberry32: the same draws every run
const pick = <T>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)]!;
const maybe = (p: number): boolean => rnd() < p;

/** Long strings are made unless this is false: a `model` array or object of more than 64 KiB is shown otherwise (below). */
let long = true;

/** A JSON string literal's inside: the fixture's (plain text, raw UTF-8, every kind of escape), sometimes long. */
function text(): string {
  let s = jsonStringInside(rnd, { moreWords: ['user', 'model'], moreChars: ['\u2028'], maxPieces: 6 });
  if (long && maybe(0.02)) s += pick(['a', 'é', '😀', '\\u00e9', 'ab\\"']).repeat(1 + Math.floor(rnd() * 30_000)); // past the prefixes hashed
  return s;
}
const str = (): string => `"${text()}"`;
const space = (): string => (maybe(0.2) ? pick([' ', '\t', '\n', '  ', '\r\n']) : '');
const obj = (pairs: [string, string][]): string =>
  `{${space()}${pairs.map(([k, v]) => `"${k}"${space()}:${space()}${v}`).join(`${space()},${space()}`)}${space()}}`;
const arr = (items: string[]): string => `[${space()}${items.join(`${space()},${space()}`)}${space()}]`;
const many = <T>(max: number, make: () => T): T[] => Array.from({ length: Math.floor(rnd() * (max + 1)) }, make);
const NUMBERS = ['0', '7', '-0', '-1', '7.0', '7e0', '70E-1', '0.5', '1e400', '9007199254740993', '9007199254740991', '12', '3.0e+1'];

/** Any JSON value, nested up to `depth`. */
function value(depth: number): string {
  if (depth > 0 && maybe(0.25)) return arr(many(3, () => value(depth - 1)));
  if (depth > 0 && maybe(0.25)) return obj(many(3, () => [pick(['k', 'text', 'content', 'url', 'a\\u0062']), value(depth - 1)]));
  return pick(['null', 'true', 'false', pick(NUMBERS), str(), '"s"']);
}
const key = (name: string): string => (maybe(0.05) ? name.replace(/[a-z]/, (c) => `\\u00${c.charCodeAt(0).toString(16)}`) : name);

function part(depth: number): string {
  const kinds = [
    () => str(),
    () =>
      obj([
        ['type', '"text"'],
        [key('text'), str()],
      ]),
    () =>
      obj([
        ['type', '"image_url"'],
        [key('image_url'), maybe(0.7) ? obj([['url', str()]]) : str()],
      ]),
    () =>
      obj([
        ['text', pick(['5', 'null', str()])],
        ['content', depth === 0 ? arr(many(3, () => part(1))) : str()],
      ]),
    () =>
      obj([
        [key('content'), depth === 0 ? arr(many(3, () => part(1))) : str()],
        ['text', pick(['1', str()])],
      ]),
    () => value(2),
  ];
  return pick(kinds)();
}
const content = (): string => (maybe(0.5) ? str() : maybe(0.9) ? arr(many(4, () => part(0))) : value(2));
function message(): string {
  const pairs: [string, string][] = [];
  if (maybe(0.95)) pairs.push([key('role'), pick(['"user"', '"system"', '"assistant"', '"us\\u0065r"', '"tool"', '1', '"User"'])]);
  if (maybe(0.95)) pairs.push([key('content'), content()]);
  if (maybe(0.1)) pairs.push([key('images'), arr(many(3, () => pick([str(), '1', 'null'])))]);
  if (maybe(0.05)) pairs.push(['role', pick(['"user"', '"system"'])]);
  if (maybe(0.05)) pairs.push(['content', content()]);
  if (maybe(0.05)) pairs.push(['tool_calls', value(3)]);
  return maybe(0.03) ? value(1) : obj(pairs.sort(() => rnd() - 0.5));
}
const prompt = (): string =>
  pick([str, str, () => arr(many(4, () => pick([str(), pick(NUMBERS), arr(many(3, () => pick(NUMBERS))), value(2)]))), () => value(1)])();

function body(): string {
  const pairs: [string, string][] = [];
  const add = (name: string, p: number, v: () => string): void => {
    if (maybe(p)) pairs.push([key(name), v()]);
  };
  add('model', 0.97, () => {
    if (maybe(0.85)) return pick(['"llama3.2"', '"llama3.2:3b"', '"Library/Llama3.2:LATEST"', '"ll\\u0061ma3.2"', '" llama3.2\\t"']);
    if (maybe(0.5)) return pick(['""', 'null', '42', '"has space"', '"a//b"', '{}', '[]']);
    if (maybe(0.5)) return str();
    long = false;
    const v = value(2);
    long = true;
    return v;
  });
  add('stream', 0.6, () => pick(['true', 'false', 'null', '"true"', '1']));
  add('stream_options', 0.4, streamOptions);
  add('messages', 0.6, () => (maybe(0.95) ? arr(many(5, message)) : value(1)));
  add('prompt', 0.3, prompt);
  add('system', 0.2, () => (maybe(0.7) ? str() : arr(many(3, () => part(0)))));
  for (const name of ['suffix', 'instructions']) add(name, 0.1, str);
  add('input', 0.15, () =>
    maybe(0.4)
      ? str()
      : arr(
          many(3, () =>
            maybe(0.5)
              ? part(0)
              : obj([
                  ['role', '"user"'],
                  ['content', content()],
                ]),
          ),
        ),
  );
  for (const name of ['max_tokens', 'max_completion_tokens', 'max_output_tokens']) add(name, 0.15, () => pick([...NUMBERS, '"7"', 'null']));
  add('options', 0.2, () => obj([['temperature', '0.5'], ...many(2, (): [string, string] => ['num_predict', pick([...NUMBERS, 'null'])])]));
  add('extra', 0.3, () => value(3));
  if (maybe(0.1)) pairs.push(...pairs.slice(0, 2).map(([k]): [string, string] => [k, value(1)])); // duplicates: the last counts
  if (maybe(0.05)) pairs.push(['model', '"llama3.2"']);
  return `${space()}${obj(pairs.sort(() => rnd() - 0.5))}${space()}`;
}
function streamOptions(): string {
  if (maybe(0.3)) return pick(['{}', 'null', '[]', '"x"', '{ }']);
  const pairs = many(3, (): [string, string] => [
    pick(['include_usage', 'other', 'incl\\u0075de_usage']),
    pick(['true', 'false', '1', 'null', '{}']),
  ]);
  return obj(pairs);
}

const ROUTES = [
  '/v1/chat/completions',
  '/api/chat',
  '/api/generate',
  '/v1/completions',
  '/v1/responses',
  '/v1/messages',
  '/v1/embeddings',
  '/api/show',
];
const routes = ROUTES.map((path) => {
  const match = matchRoute('POST', path);
  if (match === undefined || !('route' in match)) throw new Error(path);
  return match.route;
});

type Outcome = { ok: Omit<LlmRequest, 'body'> & { body: string } } | { error: { name: string; param?: string; message: string } };
function outcome(parse: () => Omit<LlmRequest, 'conversation'> & { conversation?: string[] }, raw: Buffer): Outcome {
  try {
    const r = parse();
    // The body: the same bytes when untouched, else the same object (JSON.stringify keeps JSON.parse's key order).
    const body = r.body === raw ? 'as sent' : JSON.stringify(JSON.parse(r.body.toString('utf8')));
    return { ok: { ...r, body, conversation: r.conversation ?? [] } };
  } catch (err) {
    const e = err as BadFieldError;
    return { error: { name: e.constructor.name, param: e.param, message: e.message } };
  }
}

const ROUNDS = Number(process.env.ROUNDS ?? 8000);

t.test('the bytes and JSON.parse read every generated body alike, and as the old parse did', async (t) => {
  let read = 0;
  let refused = 0;
  let spliced = 0;
  let keyed = 0;
  let wrong = 0;
  for (let round = 0; round < ROUNDS; round++) {
    let raw: Buffer = Buffer.from(body(), 'utf8');
    if (maybe(0.15)) raw = mutated(raw, rnd);
    if (maybe(0.02)) raw = Buffer.from(pick(['[1]', '"x"', '3', 'null', ' {"model":"m"} x', '{"model":"m"', '']));
    if (!isUtf8(raw)) continue;
    const route = pick(routes);
    const old = outcome(() => ({ ...oracle(route, raw), conversation: undefined }), raw);
    const byBytes = outcome(() => parseOnBytes(route, raw), raw);
    const byParse = outcome(() => parseWithJson(route, raw), raw);
    // The oracle's keys are of the old definition: the two ways are compared with each other.
    const expected = 'ok' in old && 'ok' in byParse ? { ok: { ...old.ok, conversation: byParse.ok.conversation } } : old;
    const same = JSON.stringify(byBytes) === JSON.stringify(expected) && JSON.stringify(byParse) === JSON.stringify(expected);
    if (!same && wrong < 5 && process.env.DEBUG)
      process.stderr.write(`${JSON.stringify({ route: route.path, body: raw.toString('utf8').slice(0, 3000), old, byBytes, byParse })}\n`);
    if (!same && wrong++ < 5)
      t.fail('differs', {
        route: route.path,
        body: raw.toString('utf8').slice(0, 2000),
        old: JSON.stringify(old),
        byBytes: JSON.stringify(byBytes),
        byParse: JSON.stringify(byParse),
      });
    if ('ok' in old) {
      read++;
      if (old.ok.body !== 'as sent') spliced++;
      if ('ok' in byBytes && byBytes.ok.conversation.length > 0) keyed++;
    } else refused++;
  }
  t.equal(wrong, 0, 'no difference');
  t.comment(`read ${read}, refused ${refused}, usage spliced into ${spliced}, with conversation keys ${keyed}`);
  t.ok(read > ROUNDS / 4 && refused > ROUNDS / 10 && spliced > 100 && keyed > 500, 'every outcome was exercised');
});

t.test('a model of more than 64 KiB is not parsed: a string is shown as before, an array or an object by its size', async (t) => {
  const chat = routes[0]!;
  const message = (parse: (r: ApiRoute, b: Buffer) => unknown, body: Buffer): string => {
    try {
      parse(chat, body);
    } catch (err) {
      t.equal((err as BadFieldError).param, 'model');
      return (err as Error).message;
    }
    throw new Error('no error');
  };
  const long = Buffer.from(JSON.stringify({ model: `😀é"\u0000${'x'.repeat(70_000)}` }));
  t.equal(message(parseOnBytes, long), message(parseWithJson, long));
  const padded = Buffer.from(JSON.stringify({ model: `llama3.2${' '.repeat(70_000)}` }));
  t.equal(parseWithJson(chat, padded).model.length, 70_008, 'JSON.parse: a name padded with spaces is trimmed');
  t.match(message(parseOnBytes, padded), /not "llama3\.2 {71}$/, 'on the bytes: too long to be a name');
  const array = Buffer.from(JSON.stringify({ model: ['x'.repeat(70_000)] }));
  t.equal(message(parseOnBytes, array), 'model must be a model name such as "llama3.2", not an array of 70004 bytes');
  t.match(message(parseWithJson, array), /not \["xxx/);
});
