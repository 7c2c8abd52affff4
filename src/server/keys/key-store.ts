/**
 * The API key store, behind a small interface: one JSON file implements it today
 * (json-key-store.ts); a shared database can implement it later as a new file, not a rewrite.
 */
import type { EventEmitter } from 'node:events';
import { ErrorCodes, ProximaError } from '../../errors.js';
import { isStoredKeyId, type KeyPatch, type KeyRecord } from './key-record.js';

/** Events a store emits. */
export interface KeyStoreEvents {
  /** The keys changed, by this process or another writing the same store: every record, as now. */
  change: [keys: KeyRecord[]];
  /** The store cannot be read (e.g. PRX_ERR_STORE_CORRUPT); the last good keys stay in use. */
  error: [err: Error];
}

/** A store of API keys. Mutations resolve only once they are durable. */
export interface KeyStore extends Pick<EventEmitter<KeyStoreEvents>, 'on' | 'off' | 'once'> {
  /** Every record, revoked ones too, oldest first, as of now (other writers' changes included). */
  list(): Promise<KeyRecord[]>;
  /** Stores a new record; PRX_ERR_NAME_TAKEN when a working key has its name. */
  add(record: KeyRecord): Promise<KeyRecord>;
  /** Changes a key found by name or id; PRX_ERR_KEY_NOT_FOUND when there is none. */
  update(ref: string, patch: KeyPatch): Promise<KeyRecord>;
  /** Revokes a key found by name or id (it stays listed); PRX_ERR_KEY_NOT_FOUND when there is none. */
  revoke(ref: string, at: Date): Promise<KeyRecord>;
  /** Stops watching. Idempotent. */
  close(): Promise<void>;
}

/** A store the running server follows: it also has the records as last read, for the request path. */
export interface LiveKeyStore extends KeyStore {
  readonly current: readonly KeyRecord[];
}

/** The key `ref` names: an id (revoked keys too), else the working key of that name. */
export function findKey(keys: readonly KeyRecord[], ref: string): KeyRecord {
  const found = isStoredKeyId(ref) ? keys.find((k) => k.id === ref) : keys.find((k) => k.name === ref && k.revokedAt === null);
  if (found === undefined) throw new ProximaError(ErrorCodes.KEY_NOT_FOUND, `no API key named or with id "${ref.slice(0, 80)}"`);
  return found;
}

/** Throws PRX_ERR_NAME_TAKEN when a working key other than `except` is called `name`. */
export function checkNameFree(keys: readonly KeyRecord[], name: string, except?: string): void {
  if (keys.some((k) => k.name === name && k.revokedAt === null && k.id !== except)) {
    throw new ProximaError(ErrorCodes.NAME_TAKEN, `an API key named "${name}" already exists`);
  }
}
