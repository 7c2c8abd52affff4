/**
 * The presence store of a single super node: `<dataDir>/presence.json`, rewritten whole and
 * atomically (temp file, fsync, rename) when nodes connect, change adverts or leave (coalesced:
 * at most one write per `writeDelayMs`) and when the lease is renewed (every `leaseIntervalMs`).
 * Heartbeats only update memory; the next write carries them. So the number of writes does not
 * grow with the number of nodes or their heartbeats.
 */

import { randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ErrorCodes, ProximaError } from '../../errors.js';
import { type Logger, silentLogger } from '../../log.js';
import { ensureFolder, removeStaleTempFiles, writeFileAtomic } from '../storage/atomic-file.js';
import { pidAlive } from '../storage/file-lock.js';
import type { InstanceLease, NodePresence, PresenceSnapshot, PresenceStore } from './presence-store.js';

export const PRESENCE_FILE = 'presence.json';
/** A presence file larger than this is not read (a million nodes would not reach it). */
const MAX_PRESENCE_BYTES = 256 * 1024 * 1024;

/** How the store writes. */
export interface JsonPresenceOptions {
  dataDir: string;
  /** The lease is renewed (the file rewritten) this often. */
  leaseIntervalMs: number;
  /** Changes are written at most this long after they happen, and at most once per this time. */
  writeDelayMs: number;
  now?: () => number;
  logger?: Logger;
}

/** The presence file of one super node. Create it with {@link JsonPresenceStore.open}. */
export class JsonPresenceStore implements PresenceStore {
  readonly instance: string;
  readonly #file: string;
  readonly #options: JsonPresenceOptions;
  readonly #now: () => number;
  readonly #logger: Logger;
  readonly #nodes = new Map<string, NodePresence>();
  readonly #lease: InstanceLease;
  #timer: NodeJS.Timeout | undefined;
  readonly #renewal: NodeJS.Timeout;
  #chain: Promise<void> = Promise.resolve();
  #queued = false;
  #closing: Promise<void> | undefined;
  #writes = 0;

  private constructor(options: JsonPresenceOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#logger = (options.logger ?? silentLogger).child({ component: 'presence' });
    this.#file = path.join(options.dataDir, PRESENCE_FILE);
    this.instance = randomBytes(8).toString('hex');
    const at = new Date(this.#now()).toISOString();
    this.#lease = {
      instance: this.instance,
      pid: process.pid,
      host: os.hostname(),
      startedAt: at,
      updatedAt: at,
      leaseIntervalMs: options.leaseIntervalMs,
    };
    this.#renewal = setInterval(() => void this.#write(), options.leaseIntervalMs).unref();
  }

  /** Writes a first file at once: no node online yet, whatever a killed predecessor left behind. */
  static async open(options: JsonPresenceOptions): Promise<JsonPresenceStore> {
    await ensureFolder(options.dataDir);
    // A server killed mid-write left its temp file behind.
    await removeStaleTempFiles(path.join(options.dataDir, PRESENCE_FILE), pidAlive);
    const store = new JsonPresenceStore(options);
    try {
      await store.flush();
    } catch (err) {
      clearInterval(store.#renewal);
      throw err;
    }
    return store;
  }

  /** Files written since open (tests and metrics). */
  get writes(): number {
    return this.#writes;
  }

  put(node: NodePresence): void {
    this.#nodes.set(node.name, structuredClone(node));
    this.#schedule();
  }

  seen(name: string, at: Date): void {
    const node = this.#nodes.get(name);
    if (node !== undefined) node.lastSeenAt = at.toISOString();
  }

  remove(name: string): void {
    if (this.#nodes.delete(name)) this.#schedule();
  }

  current(): PresenceSnapshot {
    return { leases: [{ ...this.#lease }], nodes: [...this.#nodes.values()].map((n) => structuredClone(n)) };
  }

  flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queued = false; // a queued write would see the same state; this one is enough
    return this.#enqueue(true);
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearInterval(this.#renewal);
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#nodes.clear();
      this.#lease.stoppedAt = new Date(this.#now()).toISOString();
      await this.#enqueue(true).catch((err: unknown) => this.#logger.warn('cannot write that the instance stopped', { err }));
    })();
    return this.#closing;
  }

  #schedule(): void {
    if (this.#closing !== undefined) return;
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      void this.#write();
    }, this.#options.writeDelayMs).unref();
  }

  /** A background write: failures are logged, and the next write tries again. */
  async #write(): Promise<void> {
    if (this.#queued || this.#closing !== undefined) return;
    this.#queued = true;
    await this.#enqueue(false).catch((err: unknown) => this.#logger.warn('cannot write the presence file', { err }));
  }

  /** One write at a time, each of the state as it is when it starts. */
  #enqueue(forced: boolean): Promise<void> {
    const next = this.#chain.then(async () => {
      if (!forced && !this.#queued) return;
      this.#queued = false;
      this.#lease.updatedAt = new Date(this.#now()).toISOString();
      await writeFileAtomic(this.#file, `${JSON.stringify(this.current(), null, 1)}\n`);
      this.#writes += 1;
    });
    this.#chain = next.catch(() => undefined);
    return next;
  }
}

/** Reads `<dataDir>/presence.json`: undefined when there is none; PRX_ERR_STORE_CORRUPT when it does not parse. */
export async function readPresence(dataDir: string): Promise<PresenceSnapshot | undefined> {
  const file = path.join(dataDir, PRESENCE_FILE);
  let text: string;
  try {
    if ((await stat(file)).size > MAX_PRESENCE_BYTES)
      throw new ProximaError(ErrorCodes.STORE_CORRUPT, `${file} is too large to be a presence file`);
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (err instanceof ProximaError) throw err;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ProximaError(ErrorCodes.STORE_IO, `cannot read ${file}`, { cause: err });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ProximaError(ErrorCodes.STORE_CORRUPT, `${file} is not valid JSON`, { cause: err });
  }
  const v = value as Partial<PresenceSnapshot> | null;
  if (typeof v !== 'object' || v === null || !Array.isArray(v.leases) || !Array.isArray(v.nodes)) {
    throw new ProximaError(ErrorCodes.STORE_CORRUPT, `${file} is not a presence file (it needs "leases" and "nodes" lists)`);
  }
  // Entries of another shape (a newer version's, a hand edit) are left out rather than trusted.
  return { leases: v.leases.filter(isLease), nodes: v.nodes.filter(isNode) };
}

const isText = (v: unknown): v is string => typeof v === 'string';

function isLease(v: unknown): v is InstanceLease {
  const l = v as Partial<InstanceLease> | null;
  return (
    typeof l === 'object' &&
    l !== null &&
    isText(l.instance) &&
    Number.isSafeInteger(l.pid) &&
    l.pid! > 0 &&
    isText(l.host) &&
    isText(l.updatedAt) &&
    typeof l.leaseIntervalMs === 'number' &&
    (l.stoppedAt === undefined || isText(l.stoppedAt))
  );
}

function isNode(v: unknown): v is NodePresence {
  const n = v as Partial<NodePresence> | null;
  return (
    typeof n === 'object' &&
    n !== null &&
    isText(n.name) &&
    isText(n.instance) &&
    isText(n.connectedAt) &&
    isText(n.lastSeenAt) &&
    isText(n.address) &&
    (n.clientVersion === null || isText(n.clientVersion)) &&
    Array.isArray(n.services) &&
    n.services.every((s) => isText(s?.name) && Array.isArray(s.models) && s.models.every(isText))
  );
}
