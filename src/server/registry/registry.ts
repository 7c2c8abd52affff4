/**
 * The registry of nodes: who may connect, with which key. It issues tokens (add, rotate), forgets
 * nodes (revoke) and checks logins by challenge-response (docs/protocol.md "Authentication"). Tokens exist
 * only in the answers to add and rotate: the store keeps key ids, and tokens are re-derived from the
 * server secret when a node logs in.
 */
import { EventEmitter } from 'node:events';
import { ErrorCodes, ProximaError } from '../../errors.js';
import { type Logger, silentLogger } from '../../log.js';
import { constantTimeEqual, deriveToken, isKeyId, newKeyId, newNonce, parseToken, verifyLoginProof } from '../../proto/control/auth.js';
import type { ModelAdvert } from '../../proto/control/messages.js';
import { checkNodeName } from '../../proto/names.js';
import { LazyLru } from '../lazy-lru.js';
import type { NodeRecord, NodeStore, StoreChange } from './node-store.js';

/** What the registry is built from. The registry owns the store: closing one closes the other. */
export interface RegistryOptions {
  store: NodeStore;
  /** The server secret (see secret.ts). */
  secret: Uint8Array;
  /** The clock, in milliseconds since the epoch. */
  now?: () => number;
  /** How long an issued nonce may be answered. */
  nonceTtlMs?: number;
  /** At most this many unanswered nonces are kept; the oldest is forgotten first. */
  maxNonces?: number;
  /** How far a node's clock may be from ours. */
  maxClockSkewMs?: number;
  logger?: Logger;
}

/** A login answer as the node sent it; every field is checked, so it may come straight from JSON. */
export interface LoginAttempt {
  name: unknown;
  keyId: unknown;
  nonce: unknown;
  timeMs: unknown;
  proof: unknown;
}

/** A node's record and its new token. Show the token once; it is not stored anywhere. */
export interface IssuedToken {
  record: NodeRecord;
  token: string;
}

/** Events, for changes made through this registry and by other processes writing the same store. */
export interface RegistryEvents {
  added: [name: string];
  /** The node is gone: close its live session. */
  revoked: [name: string];
  /** The node has a new key: close its live session, it must log in with the new token. */
  rotated: [name: string];
  /** The store failed (e.g. PRX_ERR_STORE_CORRUPT): the server should stop. */
  error: [err: Error];
}

export const DEFAULT_NONCE_TTL_MS = 30_000;
export const DEFAULT_MAX_NONCES = 10_000;
export const DEFAULT_MAX_CLOCK_SKEW_MS = 300_000;

/** The registry over a {@link NodeStore} and the server secret. */
export class Registry extends EventEmitter<RegistryEvents> {
  readonly #store: NodeStore;
  readonly #secret: Uint8Array;
  readonly #now: () => number;
  readonly #nonceTtlMs: number;
  readonly #maxClockSkewMs: number;
  readonly #logger: Logger;
  /** Nonce -> when it expires. Deleting on use makes each nonce single-use. */
  readonly #nonces: LazyLru<string, number>;
  readonly #onChange = (change: StoreChange): void => this.#reportChange(change);
  readonly #onError = (err: Error): void => {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  };

  constructor(options: RegistryOptions) {
    super();
    this.#store = options.store;
    this.#secret = options.secret;
    this.#now = options.now ?? Date.now;
    this.#nonceTtlMs = options.nonceTtlMs ?? DEFAULT_NONCE_TTL_MS;
    this.#maxClockSkewMs = options.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS;
    this.#logger = options.logger ?? silentLogger;
    this.#nonces = new LazyLru({ max: options.maxNonces ?? DEFAULT_MAX_NONCES });
    this.#store.on('change', this.#onChange);
    this.#store.on('error', this.#onError);
  }

  /** Registers `name`: PRX_ERR_NAME_INVALID, PRX_ERR_NAME_RESERVED or PRX_ERR_NAME_TAKEN otherwise. */
  async add(name: string): Promise<IssuedToken> {
    checkNodeName(name);
    const record = await this.#store.add({
      name,
      keyId: newKeyId(),
      createdAt: new Date(this.#now()).toISOString(),
      lastSeenAt: null,
      services: [],
    });
    return this.#issue(record);
  }

  /** Gives `name` a new key; its old token stops working at once. PRX_ERR_NODE_NOT_FOUND when unknown. */
  async rotate(name: string): Promise<IssuedToken> {
    return this.#issue(await this.#store.update(name, { keyId: newKeyId() }));
  }

  /** Removes `name`; its token stops working at once. PRX_ERR_NODE_NOT_FOUND when unknown. */
  revoke(name: string): Promise<NodeRecord> {
    return this.#store.remove(name);
  }

  /** Every node, sorted by name. */
  list(): Promise<NodeRecord[]> {
    return this.#store.list();
  }

  /** The node called `name`, or undefined. */
  get(name: string): Promise<NodeRecord | undefined> {
    return this.#store.get(name);
  }

  /**
   * The node whose token `token` is, or undefined: the token is re-derived from the server secret and
   * the key id it names, then compared in constant time. For credentials presented over HTTP.
   */
  async tokenOwner(token: string): Promise<NodeRecord | undefined> {
    let keyId: string;
    try {
      ({ keyId } = parseToken(token));
    } catch {
      return undefined;
    }
    const record = await this.#store.byKeyId(keyId);
    if (record === undefined) return undefined;
    return constantTimeEqual(deriveToken(this.#secret, record.name, record.keyId), token) ? record : undefined;
  }

  /** Records that `name` is alive (and which services it offers); coalesced, see NodeStore.touch. */
  touch(name: string, services?: string[]): void {
    this.#store.touch(name, new Date(this.#now()), services);
  }

  /**
   * Keeps the models `name` advertised last in its record (`models`), so the API knows them while
   * the node is offline, across restarts too. Durable once resolved; PRX_ERR_NODE_NOT_FOUND when unknown.
   */
  async rememberModels(name: string, models: readonly ModelAdvert[]): Promise<void> {
    await this.#store.update(name, { models: structuredClone(models) });
  }

  /** A fresh nonce for one login: single-use, valid for nonceTtlMs. */
  issueNonce(): string {
    const nonce = newNonce();
    this.#nonces.set(nonce, this.#now() + this.#nonceTtlMs);
    return nonce;
  }

  /**
   * Checks a login answer and returns the node's record. Every failure is PRX_ERR_AUTH_FAILED with
   * the same message, so a caller learns nothing about which part was wrong; the reason is logged
   * at debug level. The nonce is used up whatever the outcome.
   */
  async verifyLogin(attempt: LoginAttempt): Promise<NodeRecord> {
    const { name, keyId, nonce, timeMs, proof } = attempt;
    const expiresAtMs = typeof nonce === 'string' ? this.#nonces.get(nonce) : undefined;
    if (typeof nonce === 'string') this.#nonces.delete(nonce);
    const nowMs = this.#now();
    if (expiresAtMs === undefined || nowMs > expiresAtMs) return this.#refuse(name, 'unknown, used or expired nonce');
    if (typeof name !== 'string' || !isKeyId(keyId) || typeof timeMs !== 'number' || !Number.isSafeInteger(timeMs)) {
      return this.#refuse(name, 'malformed login');
    }
    if (Math.abs(nowMs - timeMs) > this.#maxClockSkewMs) return this.#refuse(name, 'clock skew too large');
    const record = await this.#store.get(name);
    if (record === undefined) return this.#refuse(name, 'unknown node');
    if (record.keyId !== keyId) return this.#refuse(name, 'old or unknown key id');
    const token = deriveToken(this.#secret, name, record.keyId);
    if (!verifyLoginProof(token, { nonce: nonce as string, name, timeMs }, proof)) return this.#refuse(name, 'wrong proof');
    this.touch(name);
    return record;
  }

  /** Writes pending last-seen times, then closes the store. Idempotent. */
  async close(): Promise<void> {
    this.#detach();
    await this.#store.close();
  }

  /** Closes the store at once; pending mutations fail. Idempotent. */
  async destroy(err?: Error): Promise<void> {
    this.#detach();
    await this.#store.destroy(err);
  }

  #issue(record: NodeRecord): IssuedToken {
    return { record, token: deriveToken(this.#secret, record.name, record.keyId) };
  }

  #refuse(name: unknown, reason: string): never {
    this.#logger.debug('login refused', { node: typeof name === 'string' ? name.slice(0, 64) : undefined, reason });
    throw new ProximaError(ErrorCodes.AUTH_FAILED, 'authentication failed');
  }

  #reportChange(change: StoreChange): void {
    // Whoever made the change (the admin API, open registration, `proxima-server nodes ...` in
    // another process), it is logged here, once.
    for (const name of change.added) this.#logger.info('node added to the registry', { node: name });
    for (const name of change.removed) this.#logger.info('node revoked', { node: name });
    for (const name of change.rotated) this.#logger.info('node token rotated', { node: name });
    for (const name of change.added) this.emit('added', name);
    for (const name of change.removed) this.emit('revoked', name);
    for (const name of change.rotated) this.emit('rotated', name);
  }

  #detach(): void {
    this.#nonces.clear();
    this.#store.off('change', this.#onChange);
    this.#store.off('error', this.#onError);
  }
}
