/**
 * The registry's storage, behind a small interface: the JSON file implements it today
 * (json-node-store.ts); a shared database can implement it later as a new file, not a rewrite.
 */
import type { EventEmitter } from 'node:events';

/** One registered node as stored. Fields a newer version adds are kept as they are. */
export interface NodeRecord {
  /** The node's name: a DNS label, unique. */
  name: string;
  /** The id of the node's current key; the token is re-derived from it, never stored. */
  keyId: string;
  /** When the node was registered, ISO 8601. */
  createdAt: string;
  /** When the node last logged in or sent a heartbeat, ISO 8601; null until it first connects. */
  lastSeenAt: string | null;
  /** The names of the services the node advertised when it was last seen. */
  services: string[];
  [field: string]: unknown;
}

/** The fields of a record that `update` may change. */
export type NodeRecordPatch = Partial<Omit<NodeRecord, 'name' | 'createdAt'>>;

/** What changed between two views of the store. A key id that changed counts as rotated. */
export interface StoreChange {
  added: string[];
  removed: string[];
  rotated: string[];
}

/** Events a store emits. */
export interface NodeStoreEvents {
  /** The set of nodes or their keys changed, by this process or another writing the same store. */
  change: [change: StoreChange];
  /** The store became unusable (e.g. PRX_ERR_STORE_CORRUPT); writes are refused until it recovers. */
  error: [err: Error];
}

/**
 * A store of node records. Mutations resolve only once they are durable; `touch` is the exception:
 * last-seen times are frequent, so they are coalesced and may be lost in a crash.
 */
export interface NodeStore extends Pick<EventEmitter<NodeStoreEvents>, 'on' | 'off' | 'once'> {
  /** The record of `name`, as of now (changes by other writers included), or undefined. */
  get(name: string): Promise<NodeRecord | undefined>;
  /** Every record, sorted by name. */
  list(): Promise<NodeRecord[]>;
  /** The record whose key id is `keyId` (a token names it), or undefined. */
  byKeyId(keyId: string): Promise<NodeRecord | undefined>;
  /** Stores a new record; PRX_ERR_NAME_TAKEN when the name exists. */
  add(record: NodeRecord): Promise<NodeRecord>;
  /** Changes fields of a record; PRX_ERR_NODE_NOT_FOUND when there is none. */
  update(name: string, patch: NodeRecordPatch): Promise<NodeRecord>;
  /** Removes a record; PRX_ERR_NODE_NOT_FOUND when there is none. */
  remove(name: string): Promise<NodeRecord>;
  /** Records that `name` was seen (and which services it offers), written with the next write. */
  touch(name: string, seenAt: Date, services?: string[]): void;
  /** Writes pending touches and queued mutations now. */
  flush(): Promise<void>;
  /** Writes what is pending, then stops watching. Idempotent. */
  close(): Promise<void>;
  /** Stops at once: queued mutations fail with `err` (or PRX_ERR_SERVER_DRAINING). Idempotent. */
  destroy(err?: Error): Promise<void>;
}

/** The difference between two snapshots of the store. */
export function diffNodes(before: ReadonlyMap<string, NodeRecord>, after: ReadonlyMap<string, NodeRecord>): StoreChange {
  const change: StoreChange = { added: [], removed: [], rotated: [] };
  for (const [name, record] of after) {
    const old = before.get(name);
    if (old === undefined) change.added.push(name);
    else if (old.keyId !== record.keyId) change.rotated.push(name);
  }
  for (const name of before.keys()) if (!after.has(name)) change.removed.push(name);
  return change;
}

/** True when `change` reports nothing. */
export function isEmptyChange(change: StoreChange): boolean {
  return change.added.length + change.removed.length + change.rotated.length === 0;
}
