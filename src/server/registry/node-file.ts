/**
 * The registry file format: `{"version":1,"nodes":{"<name>":{name,keyId,createdAt,lastSeenAt,services}}}`.
 * Parsing is strict about the fields it knows and keeps every field it does not, so a file written by
 * a newer version survives a round trip through this one.
 */
import { ErrorCodes, ProximaError } from '../../errors.js';
import { isKeyId } from '../../proto/control/auth.js';
import { labelProblem } from '../../proto/names.js';
import type { NodeRecord } from './node-store.js';

/** The format version this code reads and writes. */
export const NODE_FILE_VERSION = 1;

/** The contents of a registry file. */
export interface NodeFileState {
  nodes: Map<string, NodeRecord>;
  /** Top-level fields other than version and nodes, kept as they are. */
  extra: Record<string, unknown>;
}

/** An empty registry. */
export function emptyNodeFile(): NodeFileState {
  return { nodes: new Map(), extra: {} };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isIsoTime(value: unknown): value is string {
  return typeof value === 'string' && !Number.isNaN(Date.parse(value));
}

/** Why `value` is not a valid record stored under `key`, or undefined when it is. */
export function recordProblem(key: string, value: unknown): string | undefined {
  if (!isObject(value)) return 'is not an object';
  if (value.name !== key) return `has name ${JSON.stringify(value.name)}`;
  const nameProblem = labelProblem(key);
  if (nameProblem !== undefined) return `name ${nameProblem}`;
  if (!isKeyId(value.keyId)) return 'keyId is not 16 hex characters';
  if (!isIsoTime(value.createdAt)) return 'createdAt is not a time';
  if (value.lastSeenAt !== null && !isIsoTime(value.lastSeenAt)) return 'lastSeenAt is neither null nor a time';
  if (!Array.isArray(value.services) || !value.services.every((s) => typeof s === 'string')) {
    return 'services is not a list of names';
  }
  return undefined;
}

/** Parses a registry file; PRX_ERR_STORE_CORRUPT naming `filePath` when it does not parse or has the wrong shape. */
export function parseNodeFile(text: string, filePath: string): NodeFileState {
  const corrupt = (why: string, cause?: unknown): ProximaError =>
    new ProximaError(
      ErrorCodes.STORE_CORRUPT,
      `registry file ${filePath} is corrupt (${why}); it is left untouched: restore it from a backup or fix it by hand`,
      { cause },
    );
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw corrupt('not valid JSON', err);
  }
  if (!isObject(doc)) throw corrupt('not a JSON object');
  if (doc.version !== NODE_FILE_VERSION) throw corrupt(`version ${JSON.stringify(doc.version)}, expected ${NODE_FILE_VERSION}`);
  if (!isObject(doc.nodes)) throw corrupt('"nodes" is not an object');
  const nodes = new Map<string, NodeRecord>();
  for (const [key, value] of Object.entries(doc.nodes)) {
    const problem = recordProblem(key, value);
    if (problem !== undefined) throw corrupt(`node ${JSON.stringify(key)} ${problem}`);
    nodes.set(key, value as NodeRecord);
  }
  const { version: _version, nodes: _nodes, ...extra } = doc;
  return { nodes, extra };
}

/** The file text for `state`: nodes sorted by name, so diffs and backups stay readable. */
export function serializeNodeFile(state: NodeFileState): string {
  const nodes: Record<string, NodeRecord> = {};
  for (const name of [...state.nodes.keys()].sort()) nodes[name] = state.nodes.get(name)!;
  return JSON.stringify({ version: NODE_FILE_VERSION, ...state.extra, nodes }, null, 2) + '\n';
}
