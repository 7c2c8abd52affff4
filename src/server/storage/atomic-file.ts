/**
 * Whole-file writes that a crash cannot tear: write a temp file in the same folder, fsync it,
 * rename it over the target, fsync the folder. Readers see the old file or the new one, never half.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { ErrorCodes, ProximaError } from '../../errors.js';

/** Creates `dir` (and its parents) if missing, private to this user: the data folder holds the secret. */
export async function ensureFolder(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 }).catch((err: unknown) => {
    throw new ProximaError(ErrorCodes.STORE_IO, `cannot create folder ${dir}`, { cause: err });
  });
}

/** Enough of a file's identity to notice that another process replaced or changed it. */
export interface FileIdentity {
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

/** True when both identities are the same file in the same state (both undefined: both missing). */
export function sameIdentity(a: FileIdentity | undefined, b: FileIdentity | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}

/** The identity of `filePath` now; undefined when it does not exist. */
export async function statIdentity(filePath: string): Promise<FileIdentity | undefined> {
  try {
    const info = await stat(filePath, { bigint: true });
    return { ino: info.ino, size: info.size, mtimeNs: info.mtimeNs, ctimeNs: info.ctimeNs };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ProximaError(ErrorCodes.STORE_IO, `cannot stat ${filePath}`, { cause: err });
  }
}

/** The text of a file and the identity of exactly what was read; undefined when it does not exist. */
export async function readWithIdentity(filePath: string): Promise<{ text: string; identity: FileIdentity } | undefined> {
  let handle;
  try {
    handle = await open(filePath, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ProximaError(ErrorCodes.STORE_IO, `cannot open ${filePath}`, { cause: err });
  }
  try {
    // fstat and read through one handle, so the identity belongs to the bytes we read.
    const info = await handle.stat({ bigint: true });
    const text = await handle.readFile('utf8');
    return { text, identity: { ino: info.ino, size: info.size, mtimeNs: info.mtimeNs, ctimeNs: info.ctimeNs } };
  } catch (err) {
    throw new ProximaError(ErrorCodes.STORE_IO, `cannot read ${filePath}`, { cause: err });
  } finally {
    await handle.close();
  }
}

/** Writes `data` to `filePath` atomically and durably; resolves once it survives a power cut. */
export async function writeFileAtomic(filePath: string, data: string, modeBits = 0o600): Promise<void> {
  const dir = path.dirname(filePath);
  const tmp = tempPathFor(filePath);
  let handle;
  try {
    handle = await open(tmp, 'wx', modeBits);
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(tmp, filePath);
    await syncFolder(dir);
  } catch (err) {
    await handle?.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw new ProximaError(ErrorCodes.STORE_IO, `cannot write ${filePath}`, { cause: err });
  }
}

/** Fsyncs a folder so that a rename or a new file in it is durable. */
export async function syncFolder(dir: string): Promise<void> {
  // Windows cannot open a folder for fsync; NTFS journals renames itself.
  if (process.platform === 'win32') return;
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Removes temp files that writers of `filePath` left behind when they were killed mid-write.
 * `isAlive(pid)` says whether a writer may still be using its temp file.
 */
export async function removeStaleTempFiles(filePath: string, isAlive: (pid: number) => boolean): Promise<string[]> {
  const dir = path.dirname(filePath);
  const prefix = tempPrefix(filePath);
  const removed: string[] = [];
  for (const entry of await readdir(dir).catch(() => [])) {
    if (!entry.startsWith(prefix) || !entry.endsWith('.tmp')) continue;
    const pid = Number(entry.slice(prefix.length).split('.')[0]);
    if (!Number.isSafeInteger(pid) || pid === process.pid || isAlive(pid)) continue;
    await unlink(path.join(dir, entry)).then(
      () => removed.push(entry),
      () => undefined,
    );
  }
  return removed;
}

/**
 * A unique temp name next to `filePath`, `.<name>.<pid>.<random>.tmp`: hidden, and carrying the pid
 * so that {@link removeStaleTempFiles} can tell a dead writer's leftovers from a live writer's work.
 */
export function tempPathFor(filePath: string): string {
  return path.join(path.dirname(filePath), `${tempPrefix(filePath)}${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

function tempPrefix(filePath: string): string {
  return `.${path.basename(filePath)}.`;
}
