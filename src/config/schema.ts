/**
 * A tiny declarative validator for config files, in the manner of frp and rathole: describe the
 * shape once, then check a parsed document against it, collecting every problem with its field path
 * (`services[1].local: must be host:port, e.g. 127.0.0.1:11434`) and filling defaults on the way.
 * Unknown keys are problems too: a key in the wrong place, silently ignored, is how an frp server
 * once ran without its token (frp #4114).
 */
import path from 'node:path';
import { ConfigError, type ConfigProblem } from '../errors.js';

/** What a check runs in: the problems found so far and the folder relative paths resolve against. */
export interface CheckContext {
  readonly problems: ConfigProblem[];
  readonly baseDir: string;
}

/** Returned by a check that failed; the failure is already recorded in the context. */
export const INVALID: unique symbol = Symbol('invalid');
export type Checked<T> = T | typeof INVALID;

/** The description of one value: how to check it, and what happens when its key is absent. */
export interface Schema<T> {
  /** Checks `value` found at `path`; records each problem and returns INVALID if there was any. */
  check(value: unknown, path: string, ctx: CheckContext): Checked<T>;
  /** What a value must be, for messages: 'true or false', 'a list'. */
  readonly expected: string;
  /** Present when the key may be absent (or null): the raw value checked in its place, if any. */
  readonly absent?: { readonly fallback: unknown };
}

/** The type a schema produces. */
export type Infer<S> = S extends Schema<infer T> ? T : never;

/** Records a problem at `path` and returns INVALID. */
export function fail(ctx: CheckContext, path: string, message: string): typeof INVALID {
  ctx.problems.push({ path: path === '' ? '(top level)' : path, message });
  return INVALID;
}

/** A schema for a single value: `problem` says what is wrong with it, or returns undefined. */
export function scalar<T>(expected: string, problem: (value: unknown) => string | undefined): Schema<T> {
  return {
    expected,
    check(value, path, ctx) {
      const wrong = problem(value);
      return wrong === undefined ? (value as T) : fail(ctx, path, wrong);
    },
  };
}

/** Options for {@link string}. */
export interface StringOptions {
  minLength?: number;
  /** A pattern the whole string must match, and what it means for the message: 'a hostname'. */
  pattern?: RegExp;
  hint?: string;
}

/** A string, optionally with a least length and a pattern. */
export function string(options: StringOptions = {}): Schema<string> {
  const { minLength = 1, pattern, hint = 'well formed' } = options;
  return scalar('a string', (v) => {
    if (typeof v !== 'string') return 'must be a string';
    if (v.length < minLength) return minLength === 1 ? 'must not be empty' : `must be at least ${minLength} characters`;
    if (pattern !== undefined && !pattern.test(v)) return `must be ${hint}`;
    return undefined;
  });
}

/** An integer from `min` to `max` inclusive. */
export function integer(min: number, max: number): Schema<number> {
  const range = `must be an integer from ${min} to ${max}`;
  return scalar('an integer', (v) => (Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max ? undefined : range));
}

/** A finite number from `min` to `max` inclusive (weights, fractions). */
export function decimal(min: number, max: number): Schema<number> {
  const range = `must be a number from ${min} to ${max}`;
  return scalar('a number', (v) => (typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max ? undefined : range));
}

/** true or false; YAML 1.2 reads `yes` and `on` as strings, so they are refused here. */
export function boolean(): Schema<boolean> {
  return scalar('true or false', (v) => (typeof v === 'boolean' ? undefined : 'must be true or false'));
}

/** One of a fixed set of strings. */
export function oneOf<const T extends string>(values: readonly T[]): Schema<T> {
  const list = values.map((v) => JSON.stringify(v)).join(', ');
  return scalar(`one of ${list}`, (v) => (values.includes(v as T) ? undefined : `must be one of ${list}`));
}

/** A key that may be absent (or null); then the result has no such key. */
export function optional<T>(schema: Schema<T>): Schema<T | undefined> {
  return { ...schema, absent: { fallback: undefined } };
}

/** A key that may be absent; then `fallback` is checked in its place, so nested defaults fill too. */
export function withDefault<T>(schema: Schema<T>, fallback: unknown): Schema<T> {
  return { ...schema, absent: { fallback } };
}

/** Runs `next` on the value `schema` produced: for cross-field rules and conversions. */
export function map<T, U>(schema: Schema<T>, next: (value: T, path: string, ctx: CheckContext) => Checked<U>): Schema<U> {
  return {
    ...schema,
    check(value, path, ctx) {
      const checked = schema.check(value, path, ctx);
      return checked === INVALID ? INVALID : next(checked, path, ctx);
    },
  };
}

/** The path of `key` inside the value at `path`. */
export function pathOf(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path === '' ? key : `${path}.${key}`;
}

/** True for a YAML mapping: a plain object, not a list or a date. */
export function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

type Shape = Record<string, Schema<unknown>>;
type ObjectOf<S extends Shape> = { -readonly [K in keyof S]: Infer<S[K]> };

/**
 * Rules on which keys go together (`token` or `tokenFile`, not both). They see the raw mapping, so
 * they run, and report, even when some values are bad.
 */
export type KeyRules = (raw: Readonly<Record<string, unknown>>, report: (key: string, message: string) => void) => void;

/** True when `key` is set: present and not null. */
export function isSet(raw: Readonly<Record<string, unknown>>, key: string): boolean {
  return raw[key] !== undefined && raw[key] !== null;
}

/** A mapping with known keys; any other key is a problem. Absent optional keys are left out. */
export function object<S extends Shape>(shape: S, rules?: KeyRules): Schema<ObjectOf<S>> {
  const keys = Object.keys(shape);
  return {
    expected: `a mapping with keys ${keys.join(', ')}`,
    check(value, path, ctx) {
      if (!isMapping(value)) return fail(ctx, path, 'must be a mapping of keys to values');
      const before = ctx.problems.length;
      const ruledOut = new Set<string>();
      rules?.(value, (key, message) => {
        fail(ctx, pathOf(path, key), message);
        ruledOut.add(key);
      });
      for (const key of Object.keys(value)) {
        if (!Object.hasOwn(shape, key)) fail(ctx, pathOf(path, key), unknownKeyMessage(key, keys));
      }
      const out: Record<string, unknown> = {};
      for (const key of keys.filter((k) => !ruledOut.has(k))) {
        const field = shape[key]!;
        const at = pathOf(path, key);
        let raw = value[key];
        if (raw === undefined || raw === null) {
          if (field.absent === undefined) fail(ctx, at, 'required');
          if (field.absent?.fallback === undefined) continue;
          raw = field.absent.fallback;
        }
        const checked = field.check(raw, at, ctx);
        if (checked !== INVALID) out[key] = checked;
      }
      // Every failed check records a problem, so a count that grew means something failed below.
      return ctx.problems.length === before ? (out as ObjectOf<S>) : INVALID;
    },
  };
}

/** A mapping whose every key is optional: absent, it is checked as `{}` so its defaults fill. */
export function section<S extends Shape>(shape: S, rules?: KeyRules): Schema<ObjectOf<S>> {
  return withDefault(object(shape, rules), {});
}

/** The problem for an unknown key: the key it most likely meant, else the keys allowed there. */
function unknownKeyMessage(key: string, known: readonly string[]): string {
  const near = known.find((k) => editDistance(k.toLowerCase(), key.toLowerCase()) <= Math.max(1, Math.floor(k.length / 4)));
  if (near !== undefined) return `unknown key; did you mean "${near}"?`;
  return `unknown key (expected ${known.length === 0 ? 'none' : known.join(', ')})`;
}

/** Edit distance counting a swap of neighbours as one edit (optimal string alignment), for typos. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/** A list whose items all match `item`; each item's problems carry its index: `services[1].local`. */
export function list<T>(item: Schema<T>, minItems = 0): Schema<T[]> {
  return {
    expected: 'a list',
    check(value, path, ctx) {
      if (!Array.isArray(value)) return fail(ctx, path, 'must be a list');
      if (value.length < minItems) return fail(ctx, path, `must list at least ${minItems} item${minItems === 1 ? '' : 's'}`);
      const before = ctx.problems.length;
      const out = value.map((raw: unknown, i) => item.check(raw, pathOf(path, i), ctx));
      return ctx.problems.length === before ? (out as T[]) : INVALID;
    },
  };
}

/**
 * The first alternative that accepts the value. When none does, the problems of the one alternative
 * that got past the outer type (say, a mapping with a bad field) are reported, else one line saying
 * what the value must be.
 */
export function union<S extends readonly Schema<unknown>[]>(alternatives: S, expected?: string): Schema<Infer<S[number]>> {
  const must = expected ?? alternatives.map((a) => a.expected).join(', or ');
  return {
    expected: must,
    check(value, path, ctx) {
      const tries = alternatives.map((alt) => {
        const scratch: CheckContext = { problems: [], baseDir: ctx.baseDir };
        return { checked: alt.check(value, path, scratch), problems: scratch.problems };
      });
      const hit = tries.find((t) => t.checked !== INVALID);
      if (hit !== undefined) return hit.checked as Infer<S[number]>;
      const deeper = tries.filter((t) => t.problems.every((p) => p.path !== path));
      if (deeper.length === 1) {
        ctx.problems.push(...deeper[0]!.problems);
        return INVALID;
      }
      return fail(ctx, path, `must be ${must}`);
    },
  };
}

/** Where a document came from: its file (for messages) and the folder its relative paths mean. */
export interface ConfigSource {
  file?: string;
  /** Defaults to the file's folder, else the working directory. */
  baseDir?: string;
}

/** Checks `raw` against `schema`; throws ConfigError listing every problem, or returns the typed value. */
export function validate<T>(schema: Schema<T>, raw: unknown, source: ConfigSource = {}): T {
  const { file } = source;
  const baseDir = source.baseDir ?? (file === undefined ? process.cwd() : path.dirname(path.resolve(file)));
  const ctx: CheckContext = { problems: [], baseDir };
  const checked = schema.check(raw, '', ctx);
  if (checked === INVALID || ctx.problems.length > 0) throw new ConfigError(ctx.problems, file);
  return checked;
}
