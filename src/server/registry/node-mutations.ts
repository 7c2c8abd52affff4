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

/**
 * Last-seen times waiting to be written, the newest per node (services kept from an earlier touch
 * that named them); `due` is called `delayMs` after the first one since the last `take`.
 */
export class PendingTouches {
  #touches = new Map<string, NodeTouch>();
  #timer: NodeJS.Timeout | undefined;
  readonly #delayMs: number;
  readonly #due: () => void;

  constructor(delayMs: number, due: () => void) {
    this.#delayMs = delayMs;
    this.#due = due;
  }

  add(name: string, seenAt: Date, services?: string[]): void {
    const previous = this.#touches.get(name);
    this.#touches.set(name, { lastSeenAt: seenAt.toISOString(), services: services ? [...services] : previous?.services });
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      this.#due();
    }, this.#delayMs).unref();
  }

  /** The pending touches, handed over: none is pending after, and the timer is stopped. */
  take(): Map<string, NodeTouch> {
    const touches = this.#touches;
    this.#touches = new Map();
    this.stop();
    return touches;
  }

  /** Stops the timer; what is pending stays (for a last `take`). */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
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
