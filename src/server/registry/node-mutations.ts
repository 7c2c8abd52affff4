/**
 * The changes the JSON store applies to its map of nodes, as pure functions. The store runs them
 * under the file lock against the freshly read file; each either changes the map and returns the
 * record, or throws before touching it, so one failed mutation never spoils the others in a batch.
 */
import { ErrorCodes, ProximaError } from '../../errors.js';
import type { NodeRecord, NodeRecordPatch } from './node-store.js';

/** A change to the map of nodes; returns the record it concerns. */
export type NodeMutation = (nodes: Map<string, NodeRecord>) => NodeRecord;

/** A last-seen time (and the services advertised then), waiting to be written. */
export interface NodeTouch {
  lastSeenAt: string;
  services: string[] | undefined;
}

function existing(nodes: Map<string, NodeRecord>, name: string): NodeRecord {
  const record = nodes.get(name);
  if (record === undefined) throw new ProximaError(ErrorCodes.NODE_NOT_FOUND, `no node named "${name}"`);
  return record;
}

/** Adds `record`; PRX_ERR_NAME_TAKEN when its name exists. */
export function addNode(record: NodeRecord): NodeMutation {
  const fresh = structuredClone(record);
  return (nodes) => {
    if (nodes.has(fresh.name)) throw new ProximaError(ErrorCodes.NAME_TAKEN, `a node named "${fresh.name}" already exists`);
    nodes.set(fresh.name, fresh);
    return fresh;
  };
}

/** Changes fields of `name`; PRX_ERR_NODE_NOT_FOUND when there is none. */
export function updateNode(name: string, patch: NodeRecordPatch): NodeMutation {
  const changes = structuredClone(patch);
  return (nodes) => {
    const next = { ...existing(nodes, name), ...changes };
    nodes.set(name, next);
    return next;
  };
}

/** Removes `name`; PRX_ERR_NODE_NOT_FOUND when there is none. */
export function removeNode(name: string): NodeMutation {
  return (nodes) => {
    const old = existing(nodes, name);
    nodes.delete(name);
    return old;
  };
}

/** Applies last-seen times to the nodes that still exist; true when any was applied. */
export function applyTouches(nodes: Map<string, NodeRecord>, touches: ReadonlyMap<string, NodeTouch>): boolean {
  let applied = false;
  for (const [name, touch] of touches) {
    const record = nodes.get(name);
    if (record === undefined) continue;
    nodes.set(name, { ...record, lastSeenAt: touch.lastSeenAt, services: touch.services ?? record.services });
    applied = true;
  }
  return applied;
}
