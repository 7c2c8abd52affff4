/**
 * Model names as Ollama reads them (types/model/name.go): `[host/][namespace/]model[:tag]`, with
 * the defaults `registry.ollama.ai`, `library` and `latest` filled in, compared without regard to
 * case. So `llama3.2`, `llama3.2:latest` and `library/llama3.2:LATEST` are one model. The API keys
 * its catalog by that canonical form (`modelKey`) and lists the short form Ollama shows (`displayName`).
 */

const DEFAULT_HOST = 'registry.ollama.ai';
const DEFAULT_NAMESPACE = 'library';
const DEFAULT_TAG = 'latest';

/**
 * The full, lower-cased form of `name`: `registry.ollama.ai/library/llama3.2:latest` for `llama3.2`.
 * Two names refer to the same model exactly when their canonical forms are equal.
 */
export function canonicalModelName(name: string): string {
  const lower = name.trim().toLowerCase();
  // The tag follows the last colon of the last path part; a colon before a slash is a host's port.
  const slash = lower.lastIndexOf('/');
  const colon = lower.indexOf(':', slash + 1);
  const path = colon < 0 ? lower : lower.slice(0, colon);
  const tag = colon < 0 || colon === lower.length - 1 ? DEFAULT_TAG : lower.slice(colon + 1);
  const parts = path.split('/');
  if (parts.length === 1) parts.unshift(DEFAULT_HOST, DEFAULT_NAMESPACE);
  else if (parts.length === 2) parts.unshift(DEFAULT_HOST);
  return `${parts.join('/')}:${tag}`;
}

/** True when `a` and `b` name the same model. */
export function sameModel(a: string, b: string): boolean {
  return canonicalModelName(a) === canonicalModelName(b);
}

/** Longest model name accepted (the ledger's limit). */
export const MAX_MODEL_NAME_LENGTH = 256;

const DEFAULT_PREFIX = `${DEFAULT_HOST}/`;
const LIBRARY = `${DEFAULT_NAMESPACE}/`;

/** The catalog key of a user's model name; undefined for something that cannot be a model name. */
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
  return parts.length >= 2 ? parts[parts.length - 2]! : DEFAULT_NAMESPACE;
}
