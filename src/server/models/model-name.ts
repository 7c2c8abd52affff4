/**
 * Model names on the API: a user's model name checked and turned into the catalog's key (the
 * canonical form of src/proto/model-name.ts, so `llama3.2`, `Llama3.2:latest` and
 * `registry.ollama.ai/library/llama3.2:latest` are one model), and the short form lists show.
 */
import { canonicalModelName } from '../../proto/llm/model-name.js';

/** Longest model name accepted (the ledger's limit). */
export const MAX_MODEL_NAME_LENGTH = 256;

const DEFAULT_PREFIX = 'registry.ollama.ai/';
const LIBRARY = 'library/';

/** The catalog key of `name`; undefined for something that cannot be a model name. */
export function modelKey(name: unknown): string | undefined {
  if (typeof name !== 'string') return undefined;
  const text = name.trim();
  if (text === '' || text.length > MAX_MODEL_NAME_LENGTH || /[\s\\@]/.test(text) || text.split('/').some((p) => p === '')) return undefined;
  return canonicalModelName(text);
}

/** The short form of a key, as Ollama lists names: `llama3.2:latest`, `user/model:tag`, `hf.co/u/m:q4`. */
export function displayName(key: string): string {
  if (!key.startsWith(DEFAULT_PREFIX)) return key;
  const rest = key.slice(DEFAULT_PREFIX.length);
  return rest.startsWith(LIBRARY) ? rest.slice(LIBRARY.length) : rest;
}

/** `owned_by` of an OpenAI model entry: the namespace, `library` for the official models. */
export function modelOwner(key: string): string {
  const parts = key.split('/');
  return parts.length >= 2 ? parts[parts.length - 2]! : 'library';
}
