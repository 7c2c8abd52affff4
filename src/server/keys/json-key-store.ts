/**
 * The key store in one JSON file, `<dataDir>/keys.json` (`{"version":1,"keys":[...]}`), shared safely
 * by the running server and the `keys` commands the way the registry shares nodes.json: every write
 * takes the lock file, re-reads the file if another process changed it, applies its change and
 * replaces the file atomically (temp file, fsync, rename). Key changes are rare, so each write is its
 * own (no group commit). Changes by other processes are noticed within a second (fs.watch on the
 * folder, plus a stat poll) and reported as 'change' events.
 */
import { EventEmitter } from 'node:events';
import path from 'node:path';
import { ErrorCodes, ProximaError } from '../../errors.js';
import { type Logger, silentLogger } from '../../log.js';
import {
  ensureFolder,
  type FileIdentity,
  readWithIdentity,
  removeStaleTempFiles,
  sameIdentity,
  statIdentity,
  writeFileAtomic,
} from '../storage/atomic-file.js';
import { acquireFileLock, pidAlive } from '../storage/file-lock.js';
import { type FolderWatch, type FolderWatchOptions, watchFileInFolder } from '../storage/folder-watch.js';
import { type KeyPatch, type KeyRecord, keyRecordProblem } from './key-record.js';
import { checkNameFree, findKey, type KeyStore, type KeyStoreEvents } from './key-store.js';

/** Where the store lives and how it watches. */
export interface JsonKeyStoreOptions extends FolderWatchOptions {
  dataDir: string;
  /** How long a write waits for another process's lock before PRX_ERR_STORE_LOCKED. */
  lockWaitMs?: number;
}

/** The format version this code reads and writes. */
export const KEY_FILE_VERSION = 1;

/** Parses keys.json; PRX_ERR_STORE_CORRUPT naming the file and the first bad record. */
export function parseKeyFile(text: string, filePath: string): KeyRecord[] {
  const corrupt = (why: string, cause?: unknown): ProximaError =>
    new ProximaError(
      ErrorCodes.STORE_CORRUPT,
      `key file ${filePath} is corrupt (${why}); it is left untouched: restore it from a backup or fix it by hand`,
      {
        cause,
      },
    );
  let doc: { version?: unknown; keys?: unknown };
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch (err) {
    throw corrupt('not valid JSON', err);
  }
  if (typeof doc !== 'object' || doc === null) throw corrupt('not a JSON object');
  if (doc.version !== KEY_FILE_VERSION) throw corrupt(`version ${JSON.stringify(doc.version)}, expected ${KEY_FILE_VERSION}`);
  if (!Array.isArray(doc.keys)) throw corrupt('"keys" is not a list');
  const ids = new Set<string>();
  for (const [i, record] of doc.keys.entries()) {
    const problem = keyRecordProblem(record);
    if (problem !== undefined) throw corrupt(`key ${i}: ${problem}`);
    if (ids.has((record as KeyRecord).id)) throw corrupt(`key ${i}: id ${(record as KeyRecord).id} twice`);
    ids.add((record as KeyRecord).id);
  }
  return doc.keys as KeyRecord[];
}

function serialize(keys: readonly KeyRecord[]): string {
  return `${JSON.stringify({ version: KEY_FILE_VERSION, keys }, null, 2)}\n`;
}

/** The JSON-file {@link KeyStore}. Create it with {@link JsonKeyStore.open}. */
export class JsonKeyStore extends EventEmitter<KeyStoreEvents> implements KeyStore {
  readonly filePath: string;
  readonly #lockPath: string;
  readonly #options: JsonKeyStoreOptions;
  readonly #logger: Logger;
  #keys: KeyRecord[] = [];
  #identity: FileIdentity | undefined;
  #failure: ProximaError | undefined;
  #tail: Promise<unknown> = Promise.resolve();
  #checkQueued = false;
  #watch: FolderWatch | undefined;
  #closed = false;

  private constructor(options: JsonKeyStoreOptions) {
    super();
    this.#options = options;
    this.#logger = options.logger ?? silentLogger;
    this.filePath = path.join(options.dataDir, 'keys.json');
    this.#lockPath = `${this.filePath}.lock`;
  }

  /** Opens the store: PRX_ERR_STORE_CORRUPT naming the file when it does not parse. */
  static async open(options: JsonKeyStoreOptions): Promise<JsonKeyStore> {
    const store = new JsonKeyStore(options);
    await ensureFolder(options.dataDir);
    await store.#reloadIfChanged();
    const swept = [...(await removeStaleTempFiles(store.filePath, pidAlive)), ...(await removeStaleTempFiles(store.#lockPath, pidAlive))];
    if (swept.length > 0) store.#logger.info('removed temp files of interrupted writes', { files: swept });
    store.#watch = watchFileInFolder(store.filePath, options, () => store.#queueCheck());
    return store;
  }

  /** The records as last read or written, without touching the disk (for the request path). */
  get current(): readonly KeyRecord[] {
    return this.#keys;
  }

  async list(): Promise<KeyRecord[]> {
    if (!this.#closed) await this.#exclusive(() => this.#reloadIfChanged());
    return structuredClone(this.#keys);
  }

  add(record: KeyRecord): Promise<KeyRecord> {
    const fresh = structuredClone(record);
    return this.#mutate((keys) => {
      checkNameFree(keys, fresh.name);
      if (keys.some((k) => k.id === fresh.id))
        throw new ProximaError(ErrorCodes.NAME_TAKEN, `an API key with id ${fresh.id} already exists`);
      keys.push(fresh);
      return fresh;
    });
  }

  update(ref: string, patch: KeyPatch): Promise<KeyRecord> {
    const changes = structuredClone(patch);
    return this.#mutate((keys) => {
      const old = findKey(keys, ref);
      if (changes.name !== undefined && old.revokedAt === null) checkNameFree(keys, changes.name, old.id);
      const next = { ...old, ...changes };
      keys[keys.indexOf(old)] = next;
      return next;
    });
  }

  revoke(ref: string, at: Date): Promise<KeyRecord> {
    return this.#mutate((keys) => {
      const old = findKey(keys, ref);
      const next = { ...old, revokedAt: old.revokedAt ?? at.toISOString() };
      keys[keys.indexOf(old)] = next;
      return next;
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#watch?.close();
    await this.#tail;
  }

  /** Applies `change` to the file's current keys under the lock and writes them; resolves once durable. */
  #mutate(change: (keys: KeyRecord[]) => KeyRecord): Promise<KeyRecord> {
    if (this.#closed) return Promise.reject(new ProximaError(ErrorCodes.SERVER_DRAINING, 'the key store is closed'));
    return this.#exclusive(async () => {
      const lock = await acquireFileLock(this.#lockPath, { waitMs: this.#options.lockWaitMs, logger: this.#logger });
      try {
        await this.#reloadIfChanged();
        const keys = structuredClone(this.#keys);
        const record = change(keys);
        await writeFileAtomic(this.filePath, serialize(keys));
        // Still under the lock: what is on disk now is exactly what we wrote.
        this.#identity = await statIdentity(this.filePath);
        this.#setKeys(keys);
        return structuredClone(record);
      } finally {
        await lock.release();
      }
    });
  }

  /** Runs `fn` after every file operation queued before it: reads and writes never interleave. */
  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(fn);
    this.#tail = run.catch(() => undefined);
    return run;
  }

  /** Re-reads the file if it is not the one we last read or wrote; records and throws corruption. */
  async #reloadIfChanged(): Promise<void> {
    if (sameIdentity(await statIdentity(this.filePath), this.#identity)) {
      if (this.#failure !== undefined) throw this.#failure;
      return;
    }
    const read = await readWithIdentity(this.filePath);
    this.#identity = read?.identity;
    let keys: KeyRecord[];
    try {
      keys = read === undefined ? [] : parseKeyFile(read.text, this.filePath);
    } catch (err) {
      this.#failure = err as ProximaError;
      this.#logger.error('key file is corrupt; writes are refused until it is fixed (a running server keeps the keys it last read)', {
        err,
      });
      if (this.listenerCount('error') > 0) this.emit('error', this.#failure);
      throw err;
    }
    if (this.#failure !== undefined) this.#logger.info('key file is readable again', { file: this.filePath });
    this.#failure = undefined;
    this.#setKeys(keys);
  }

  #setKeys(keys: KeyRecord[]): void {
    const changed = serialize(keys) !== serialize(this.#keys);
    this.#keys = keys;
    if (changed) this.emit('change', structuredClone(keys));
  }

  #queueCheck(): void {
    if (this.#checkQueued || this.#closed) return;
    this.#checkQueued = true;
    void this.#exclusive(() => {
      this.#checkQueued = false;
      return this.#reloadIfChanged();
    }).catch((err: unknown) => this.#logger.debug('key file check failed', { err }));
  }
}
