/**
 * One writer at a time across processes: a lock file, created exclusively, that holds the owner's pid.
 * Holders keep it for one write (milliseconds), so waiting is bounded and a lock whose owner died is
 * taken over. Local folders only: pids mean nothing across machines sharing a network folder.
 */
import { randomBytes } from 'node:crypto';
import { link, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCodes, ProximaError } from '../../errors.js';
import { silentLogger, type Logger } from '../../log.js';
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

/** Takes the lock at `lockPath`, waiting up to `waitMs` for its holder. */
export async function acquireFileLock(lockPath: string, options: FileLockOptions = {}): Promise<FileLock> {
  const waitMs = options.waitMs ?? DEFAULT_WAIT_MS;
  const logger = options.logger ?? silentLogger;
  const id = randomBytes(8).toString('hex');
  const content = `${process.pid} ${id}\n`;
  const deadline = Date.now() + waitMs;
  let pollMs = 2;
  // Known as ours before the lock exists: another taker in this process may read it the moment it does.
  heldIds.add(id);
  try {
    for (;;) {
      if (await tryCreate(lockPath, content)) return makeLock(lockPath, id, content, logger);
      if (await breakIfStale(lockPath, options.staleMs ?? DEFAULT_STALE_MS, logger)) continue;
      const leftMs = deadline - Date.now();
      if (leftMs <= 0) {
        const holder = await readFile(lockPath, 'utf8').catch(() => '');
        throw new ProximaError(
          ErrorCodes.STORE_LOCKED,
          `${lockPath} is held by pid ${holder.split(' ')[0] || 'unknown'} for more than ${waitMs} ms`,
        );
      }
      await sleep(Math.min(pollMs, leftMs));
      pollMs = Math.min(pollMs * 2, MAX_POLL_MS);
    }
  } catch (err) {
    heldIds.delete(id);
    throw err;
  }
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
