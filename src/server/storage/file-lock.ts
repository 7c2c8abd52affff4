/**
 * One writer at a time across processes: a lock file, created exclusively, that holds the owner's pid.
 * Holders keep it for one write (milliseconds), so waiting is bounded and a lock whose owner died is
 * taken over. Local folders only: pids mean nothing across machines sharing a network folder.
 */
import { randomBytes } from 'node:crypto';
import { link, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCodes, ProximaError } from '../../errors.js';
import { type Logger, silentLogger } from '../../log.js';
import { tempPathFor } from './atomic-file.js';

/** How to wait for and judge a lock. */
export interface FileLockOptions {
  /** How long to wait for a live holder before failing with PRX_ERR_STORE_LOCKED. */
  waitMs?: number;
  /**
   * A lock older than this is stale even if a process with its pid lives: holders keep it for
   * one write, and after a reboot the pid may belong to someone else.
   */
  staleMs?: number;
  logger?: Logger;
}

/** A held lock. */
export interface FileLock {
  readonly path: string;
  /** Removes the lock if it is still ours. Idempotent. */
  release(): Promise<void>;
}

const DEFAULT_WAIT_MS = 5_000;
const DEFAULT_STALE_MS = 30_000;
const MAX_POLL_MS = 50;

/** Ids of the locks this process holds, so a lock carrying our own pid from a past life is seen as stale. */
const heldIds = new Set<string>();

/** True when a process with this pid exists (EPERM: it exists but belongs to another user). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function errnoCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/**
 * Takers in this process, one at a time per lock path: each waits for the one before it here rather
 * than racing it on the file, where a lock being released can look like a past life's (its id is
 * no longer held) and be moved aside while another taker creates the next one.
 */
const queues = new Map<string, Promise<void>>();

/** Takes the lock at `lockPath`, waiting up to `waitMs` for its holder. */
export async function acquireFileLock(lockPath: string, options: FileLockOptions = {}): Promise<FileLock> {
  const waitMs = options.waitMs ?? DEFAULT_WAIT_MS;
  const deadline = Date.now() + waitMs;
  const key = path.resolve(lockPath); // one queue per file, however its path is spelled
  const previous = queues.get(key) ?? Promise.resolve();
  let ourTurnIsOver!: () => void;
  const turn = new Promise<void>((resolve) => (ourTurnIsOver = resolve));
  const queue = previous.then(() => turn);
  queues.set(key, queue);
  const leave = (): void => {
    ourTurnIsOver();
    void queue.then(() => {
      if (queues.get(key) === queue) queues.delete(key);
    });
  };
  try {
    if (!(await turnWithin(previous, deadline))) throw lockedError(lockPath, await holderOf(lockPath), waitMs);
    const lock = await acquireOnFile(lockPath, deadline, waitMs, options);
    let released: Promise<void> | undefined;
    return { path: lock.path, release: () => (released ??= lock.release().finally(leave)) };
  } catch (err) {
    leave();
    throw err;
  }
}

/** Resolves true once `previous` settles, false if `deadline` comes first. */
async function turnWithin(previous: Promise<void>, deadline: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(resolve, Math.max(0, deadline - Date.now()), false)));
  try {
    return await Promise.race([previous.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Takes the lock file, waiting until `deadline` for another process's holder. */
async function acquireOnFile(lockPath: string, deadline: number, waitMs: number, options: FileLockOptions): Promise<FileLock> {
  const logger = options.logger ?? silentLogger;
  const id = randomBytes(8).toString('hex');
  const content = `${process.pid} ${id}\n`;
  let pollMs = 2;
  // Known as ours before the lock exists: a lock with our pid and an id we do not hold is a past life's.
  heldIds.add(id);
  try {
    for (;;) {
      if (await tryCreate(lockPath, content)) return makeLock(lockPath, id, content, logger);
      if (await breakIfStale(lockPath, options.staleMs ?? DEFAULT_STALE_MS, logger)) continue;
      const leftMs = deadline - Date.now();
      if (leftMs <= 0) throw lockedError(lockPath, await holderOf(lockPath), waitMs);
      await sleep(Math.min(pollMs, leftMs));
      pollMs = Math.min(pollMs * 2, MAX_POLL_MS);
    }
  } catch (err) {
    heldIds.delete(id);
    throw err;
  }
}

/** The pid in the lock file, if it can be read. */
async function holderOf(lockPath: string): Promise<string> {
  const holder = await readFile(lockPath, 'utf8').catch(() => '');
  return holder.split(' ')[0] || 'unknown';
}

function lockedError(lockPath: string, pid: string, waitMs: number): ProximaError {
  return new ProximaError(ErrorCodes.STORE_LOCKED, `${lockPath} is held by pid ${pid} for more than ${waitMs} ms`);
}

/**
 * Creates the lock with its content in one step: the content goes into a temp file (O_EXCL), which is
 * then hard-linked to the lock name; link fails if the name exists, exactly like O_EXCL. A writer
 * killed half-way thus never leaves an empty lock that nobody could judge.
 */
async function tryCreate(lockPath: string, content: string): Promise<boolean> {
  const tmp = tempPathFor(lockPath);
  try {
    await writeFile(tmp, content, { flag: 'wx', mode: 0o644 });
    await link(tmp, lockPath);
    return true;
  } catch (err) {
    if (errnoCode(err) === 'EEXIST') return false;
    throw new ProximaError(ErrorCodes.STORE_IO, `cannot create lock ${lockPath}`, { cause: err });
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

function makeLock(lockPath: string, id: string, content: string, logger: Logger): FileLock {
  let released: Promise<void> | undefined;
  const release = async (): Promise<void> => {
    heldIds.delete(id);
    const now = await readFile(lockPath, 'utf8').catch(() => undefined);
    if (now === content) await unlink(lockPath).catch(() => undefined);
    else logger.warn('lock was taken over while held', { lock: lockPath });
  };
  return { path: lockPath, release: () => (released ??= release()) };
}

/** Judges the current lock; removes it when stale. True when the caller should try again at once. */
async function breakIfStale(lockPath: string, staleMs: number, logger: Logger): Promise<boolean> {
  let content: string;
  let ino: number;
  let ageMs: number;
  try {
    const info = await stat(lockPath);
    content = await readFile(lockPath, 'utf8');
    ino = info.ino;
    ageMs = Date.now() - info.mtimeMs;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return true;
    throw new ProximaError(ErrorCodes.STORE_IO, `cannot read lock ${lockPath}`, { cause: err });
  }
  if (!isStale(content, ageMs, staleMs)) return false;
  // Move it aside rather than unlink it: if two processes judge the same lock stale, only the one
  // whose rename moved that very file (same inode) may go on; the other puts back what it moved.
  const aside = tempPathFor(lockPath);
  try {
    await rename(lockPath, aside);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return true;
    throw new ProximaError(ErrorCodes.STORE_IO, `cannot remove stale lock ${lockPath}`, { cause: err });
  }
  const moved = await stat(aside).catch(() => undefined);
  if (moved?.ino === ino) {
    await unlink(aside).catch(() => undefined);
    logger.warn('took over a stale lock', { lock: lockPath, holder: content.trim() });
    return true;
  }
  await link(aside, lockPath).catch(() => undefined);
  await unlink(aside).catch(() => undefined);
  return false;
}

function isStale(content: string, ageMs: number, staleMs: number): boolean {
  const match = /^(\d+) ([0-9a-f]+)\n$/.exec(content);
  // Locks are born whole (see tryCreate): one we cannot read is not ours to judge, until it is old.
  if (match === null) return ageMs > staleMs;
  const pid = Number(match[1]);
  if (pid === process.pid) return !heldIds.has(match[2]!);
  return ageMs > staleMs || !pidAlive(pid);
}
