/**
 * Reads a config file as YAML with js-yaml's default schema, which is safe in v4: plain data only,
 * no custom tags, no code. Every failure is a ConfigError naming the file.
 */
import fs from 'node:fs';
import yaml from 'js-yaml';
import { ConfigError } from '../errors.js';

/** Parses YAML text into the top-level mapping; an empty document is an empty mapping. */
export function parseYaml(text: string, file?: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = yaml.load(text, file === undefined ? {} : { filename: file });
  } catch (err) {
    if (!(err instanceof yaml.YAMLException)) throw err;
    // Most errors carry a position; "more than one document" does not.
    const mark = err.mark as typeof err.mark | undefined;
    const where = mark === undefined ? '(top level)' : `line ${mark.line + 1} column ${mark.column + 1}`;
    throw new ConfigError([{ path: where, message: `YAML syntax error: ${err.reason}` }], file, { cause: err });
  }
  if (doc === undefined || doc === null) return {};
  if (typeof doc !== 'object' || Array.isArray(doc) || doc instanceof Date) {
    const found = Array.isArray(doc) ? 'a list' : `a ${typeof doc === 'object' ? 'date' : typeof doc}`;
    throw new ConfigError([{ path: '(top level)', message: `must be a mapping of keys to values, not ${found}` }], file);
  }
  return doc as Record<string, unknown>;
}

/** Reads and parses the YAML file `file`. */
export function readYamlFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    const message = code === 'ENOENT' ? 'file not found' : `cannot read the file (${code})`;
    throw new ConfigError([{ path: '(file)', message }], file, { cause: err });
  }
  return parseYaml(text, file);
}
