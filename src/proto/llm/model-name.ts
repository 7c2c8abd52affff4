/**
 * Model names as Ollama reads them (types/model/name.go): `[host/][namespace/]model[:tag]`, with
 * the defaults `registry.ollama.ai`, `library` and `latest` filled in, compared without regard to
 * case. So `llama3.2`, `llama3.2:latest` and `library/llama3.2:LATEST` are one model.
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
