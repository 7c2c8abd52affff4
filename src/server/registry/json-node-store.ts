/**
 * The node store in one JSON file, `<dataDir>/nodes.json`, shared safely by the running server and
 * the `nodes` commands: every write takes the lock file, re-reads the file if another process changed
 * it, applies its mutations and replaces the file atomically. Mutations that arrive while a write is
 * in flight go together into the next one (group commit); each resolves only once it is durable.
 * Changes made by other processes are noticed within a second (fs.watch on the folder, plus a stat
 * poll where watching is unreliable) and reported as 'change' events.
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
import { emptyNodeFile, type NodeFileState, parseNodeFile, serializeNodeFile } from './node-file.js';
import { addNode, applyTouches, type NodeMutation, PendingTouches, removeNode, updateNode } from './node-mutations.js';
import { diffNodes, isEmptyChange, type NodeRecord, type NodeRecordPatch, type NodeStore, type NodeStoreEvents } from './node-store.js';

/** Where the store lives and how it watches. */
export interface JsonNodeStoreOptions extends FolderWatchOptions {
  /** The data folder; created when missing. */
  dataDir: string;
  /** The file name inside dataDir. */
  fileName?: string;
  /** How long a write waits for another process's lock before PRX_ERR_STORE_LOCKED. */
  lockWaitMs?: number;
  /** How long after a touch its last-seen time is written, at the latest. */
  touchFlushMs?: number;
}

interface Pending {
  apply: NodeMutation;
  resolve(record: NodeRecord): void;
  reject(err: unknown): void;
}

/** The JSON-file {@link NodeStore}. Create it with {@link JsonNodeStore.open}. */
export class JsonNodeStore extends EventEmitter<NodeStoreEvents> implements NodeStore {
  /** The registry file. */
  readonly filePath: string;
  #writeCount = 0;
  readonly #lockPath: string;
  readonly #options: JsonNodeStoreOptions;
  readonly #logger: Logger;
  #state: NodeFileState = emptyNodeFile();
  #identity: FileIdentity | undefined;
  #failure: ProximaError | undefined;
  #queue: Pending[] = [];
  readonly #touches: PendingTouches;
  #tail: Promise<unknown> = Promise.resolve();
  #commitQueued = false;
  #checkQueued = false;
  #watch: FolderWatch | undefined;
  #stopping: Promise<void> | undefined;

  private constructor(options: JsonNodeStoreOptions) {
    super();
    this.#options = options;
    this.#logger = options.logger ?? silentLogger;
    this.#touches = new PendingTouches(options.touchFlushMs ?? 10_000, () => this.#queueCommit());
    this.filePath = path.join(options.dataDir, options.fileName ?? 'nodes.json');
    this.#lockPath = `${this.filePath}.lock`;
  }

  /** Opens the store: PRX_ERR_STORE_CORRUPT naming the file when it does not parse. */
  static async open(options: JsonNodeStoreOptions): Promise<JsonNodeStore> {
    const store = new JsonNodeStore(options);
    await ensureFolder(options.dataDir);
    await store.#reloadIfChanged();
    const swept = [...(await removeStaleTempFiles(store.filePath, pidAlive)), ...(await removeStaleTempFiles(store.#lockPath, pidAlive))];
    if (swept.length > 0) store.#logger.info('removed temp files of interrupted writes', { files: swept });
    store.#watch = watchFileInFolder(store.filePath, options, () => store.#queueCheck());
    return store;
  }

  /** How many times this store has written the file (group commit keeps it well below the mutations). */
  get writeCount(): number {
    return this.#writeCount;
  }

  async get(name: string): Promise<NodeRecord | undefined> {
    await this.#refresh();
    const record = this.#state.nodes.get(name);
    return record === undefined ? undefined : structuredClone(record);
  }

  async byKeyId(keyId: string): Promise<NodeRecord | undefined> {
    await this.#refresh();
    for (const record of this.#state.nodes.values()) if (record.keyId === keyId) return structuredClone(record);
    return undefined;
  }

  async list(): Promise<NodeRecord[]> {
    await this.#refresh();
    return [...this.#state.nodes.keys()].sort().map((name) => structuredClone(this.#state.nodes.get(name)!));
  }

  add(record: NodeRecord): Promise<NodeRecord> {
    return this.#mutate(addNode(record));
  }

  update(name: string, patch: NodeRecordPatch): Promise<NodeRecord> {
    return this.#mutate(updateNode(name, patch));
  }

  remove(name: string): Promise<NodeRecord> {
    return this.#mutate(removeNode(name));
  }

  touch(name: string, seenAt: Date, services?: string[]): void {
    if (this.#stopping !== undefined) return;
    this.#touches.add(name, seenAt, services);
  }

  flush(): Promise<void> {
    return this.#exclusive(() => this.#commit());
  }

  close(): Promise<void> {
    return (this.#stopping ??= (async () => {
      this.#stopWatching();
      // A failed final write has already failed the mutations it carried; closing still completes.
      await this.#exclusive(() => this.#commit()).catch((err: unknown) => this.#logger.error('registry write failed', { err }));
    })());
  }

  destroy(err?: Error): Promise<void> {
    return (this.#stopping ??= (async () => {
      this.#stopWatching();
      this.#touches.take();
      const reason = err ?? new ProximaError(ErrorCodes.SERVER_DRAINING, 'the node store was destroyed');
      for (const pending of this.#queue.splice(0)) pending.reject(reason);
      await this.#tail;
    })());
  }

  #mutate(apply: Pending['apply']): Promise<NodeRecord> {
    if (this.#stopping !== undefined) {
      return Promise.reject(new ProximaError(ErrorCodes.SERVER_DRAINING, 'the node store is closed'));
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ apply, resolve, reject });
      this.#queueCommit();
    });
  }

  /** Runs `fn` after every file operation queued before it: reads and writes never interleave. */
  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(fn);
    this.#tail = run.catch(() => undefined);
    return run;
  }

  #queueCommit(): void {
    if (this.#commitQueued) return;
    this.#commitQueued = true;
    void this.#exclusive(() => {
      this.#commitQueued = false;
      return this.#commit();
    }).catch((err: unknown) => this.#logger.error('registry write failed', { err }));
  }

  async #commit(): Promise<void> {
    const batch = this.#queue.splice(0);
    const touches = this.#touches.take();
    if (batch.length === 0 && touches.size === 0) return;
    let lock;
    try {
      lock = await acquireFileLock(this.#lockPath, { waitMs: this.#options.lockWaitMs, logger: this.#logger });
      await this.#reloadIfChanged();
      const nodes = new Map(this.#state.nodes);
      const results = batch.map((pending) => {
        try {
          return { pending, record: pending.apply(nodes) };
        } catch (error) {
          return { pending, error };
        }
      });
      const touched = applyTouches(nodes, touches);
      if (touched || results.some((r) => r.error === undefined)) {
        const next = { nodes, extra: this.#state.extra };
        await writeFileAtomic(this.filePath, serializeNodeFile(next));
        this.#writeCount += 1;
        // Still under the lock: what is on disk now is exactly what we wrote.
        this.#identity = await statIdentity(this.filePath);
        this.#setState(next);
      }
      for (const r of results) {
        if (r.error === undefined) r.pending.resolve(structuredClone(r.record!));
        else r.pending.reject(r.error);
      }
    } catch (err) {
      for (const pending of batch) pending.reject(err);
      if (touches.size > 0) this.#logger.warn('last-seen times were not written', { err });
      throw err;
    } finally {
      await lock?.release();
    }
  }

  /** Re-reads the file if it is not the one we last read or wrote; records and throws corruption. */
  async #reloadIfChanged(): Promise<void> {
    // A stat is enough to know nothing changed, which is nearly always the case.
    if (sameIdentity(await statIdentity(this.filePath), this.#identity)) {
      if (this.#failure !== undefined) throw this.#failure;
      return;
    }
    const read = await readWithIdentity(this.filePath);
    this.#identity = read?.identity;
    let next: NodeFileState;
    try {
      next = read === undefined ? emptyNodeFile() : parseNodeFile(read.text, this.filePath);
    } catch (err) {
      this.#failure = err as ProximaError;
      this.#logger.error('registry file is corrupt; writes are refused', { err });
      if (this.listenerCount('error') > 0) this.emit('error', this.#failure);
      throw err;
    }
    if (this.#failure !== undefined) this.#logger.info('registry file is readable again', { file: this.filePath });
    this.#failure = undefined;
    this.#setState(next);
  }

  #setState(next: NodeFileState): void {
    const change = diffNodes(this.#state.nodes, next.nodes);
    this.#state = next;
    if (!isEmptyChange(change)) this.emit('change', change);
  }

  /** Makes reads see other writers' changes at once, not only when the watcher fires. */
  async #refresh(): Promise<void> {
    if (this.#stopping !== undefined) return;
    await this.#exclusive(() => this.#reloadIfChanged());
  }

  #queueCheck(): void {
    if (this.#checkQueued || this.#stopping !== undefined) return;
    this.#checkQueued = true;
    void this.#exclusive(() => {
      this.#checkQueued = false;
      return this.#reloadIfChanged();
    }).catch((err: unknown) => this.#logger.debug('registry file check failed', { err }));
  }

  #stopWatching(): void {
    this.#watch?.close();
    this.#touches.stop();
  }
}
