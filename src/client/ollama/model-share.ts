/**
 * Which models an operator shares: `share: "*"` (every model the local Ollama serves) or a list of
 * names, matched as Ollama matches names (`llama3.2` is `llama3.2:latest`, case aside).
 */
import { canonicalModelName } from '../../proto/llm/model-name.js';

/** The `share` setting of an ollama service. */
export type ModelShare = '*' | readonly string[];

/** A test for one service's `share`: true for a name the operator shares. */
export type ShareFilter = (name: string) => boolean;

/** Builds the test for `share`; a list is canonicalised once, so each check is a set lookup. */
export function shareFilter(share: ModelShare): ShareFilter {
  if (share === '*') return () => true;
  const shared = new Set(share.map(canonicalModelName));
  return (name) => shared.has(canonicalModelName(name));
}
