/**
 * The `models` section of server.yaml: public names the operator gives to the nodes' models.
 * `aliases` maps one name to several node model names (a request for it may go to a node sharing
 * any of them); `fallbacks` maps a model to the models that serve its requests when no node can
 * take them (model-choice.ts). Names are checked like the model names of a request, and compared by
 * their canonical form (`llama3` is `llama3:latest`).
 */
import { type CheckContext, type Checked, fail, INVALID, isMapping, pathOf, type Schema, withDefault } from '../../../config/schema.js';
import { displayName, modelKey } from '../../../proto/llm/model-name.js';

/** One alias: the name as configured (listed so), its key, and the keys of the models it stands for. */
export interface ModelAlias {
  name: string;
  key: string;
  targets: string[];
}

/** `models` in server.yaml, by canonical key. */
export interface ModelNamesConfig {
  aliases: Map<string, ModelAlias>;
  /** Model key to the keys of its fallbacks, in order. */
  fallbacks: Map<string, string[]>;
}

/** Most aliases, fallback entries, and names in one entry: a name table, not a database. */
const MAX_ENTRIES = 1000;
const MAX_NAMES = 64;

/** A model name's key, or a problem recorded at `at`. */
function nameKey(raw: unknown, at: string, ctx: CheckContext): Checked<string> {
  const key = modelKey(raw);
  if (key === undefined) return fail(ctx, at, `must be a model name such as "llama3.2:3b", not ${JSON.stringify(raw)?.slice(0, 80)}`);
  return key;
}

/** One entry of a table: the name as written, its key, and the keys it names. */
interface NameEntry {
  name: string;
  key: string;
  targets: string[];
}

/**
 * A mapping of model names to one name or a list of names, `what` for messages; the entries that
 * are right (the others are recorded as problems).
 */
function nameTable(value: unknown, path: string, ctx: CheckContext, what: string): NameEntry[] {
  if (value === undefined || value === null) return [];
  if (!isMapping(value)) {
    fail(ctx, path, `must be a mapping of model names to ${what}`);
    return [];
  }
  const entries = Object.entries(value);
  if (entries.length > MAX_ENTRIES) {
    fail(ctx, path, `at most ${MAX_ENTRIES} entries`);
    return [];
  }
  const out: { name: string; key: string; targets: string[] }[] = [];
  const seen = new Map<string, string>();
  for (const [name, raw] of entries) {
    const at = pathOf(path, name);
    const key = nameKey(name, at, ctx);
    const list = Array.isArray(raw) ? raw : [raw];
    if (list.length === 0 || list.length > MAX_NAMES) {
      fail(ctx, at, `must name 1 to ${MAX_NAMES} models`);
      continue;
    }
    const targets: string[] = [];
    list.forEach((item, i) => {
      const target = nameKey(item, Array.isArray(raw) ? pathOf(at, i) : at, ctx);
      if (target === INVALID) return;
      if (target === key) fail(ctx, at, `names itself (${displayName(target)})`);
      else if (targets.includes(target)) fail(ctx, at, `names ${displayName(target)} twice`);
      else targets.push(target);
    });
    if (key === INVALID) continue;
    const other = seen.get(key);
    if (other !== undefined) fail(ctx, at, `is the same model name as "${other}"`);
    seen.set(key, name);
    out.push({ name, key, targets });
  }
  return out;
}

/** The schema of `models`. */
export const modelNamesSection: Schema<ModelNamesConfig> = withDefault(
  {
    expected: 'a mapping with keys aliases, fallbacks',
    check(value, path, ctx) {
      if (!isMapping(value)) return fail(ctx, path, 'must be a mapping of keys to values');
      const before = ctx.problems.length;
      for (const key of Object.keys(value))
        if (key !== 'aliases' && key !== 'fallbacks') fail(ctx, pathOf(path, key), 'unknown key (expected aliases, fallbacks)');
      const aliasesAt = pathOf(path, 'aliases');
      const aliases = nameTable(value.aliases, aliasesAt, ctx, 'lists of node model names');
      const fallbacks = nameTable(value.fallbacks, pathOf(path, 'fallbacks'), ctx, 'a model name or a list of them');
      const byKey = new Map(aliases.map((a) => [a.key, a]));
      // Aliases do not chain: a target that is itself an alias would make cycles possible.
      for (const alias of aliases) {
        const chained = alias.targets.find((t) => byKey.has(t));
        if (chained !== undefined)
          fail(ctx, pathOf(aliasesAt, alias.name), `names the alias "${byKey.get(chained)!.name}": aliases name node models, not aliases`);
      }
      if (ctx.problems.length > before) return INVALID;
      return { aliases: byKey, fallbacks: new Map(fallbacks.map((f) => [f.key, f.targets])) };
    },
  },
  {},
);
