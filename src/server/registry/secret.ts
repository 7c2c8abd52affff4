/**
 * The server secret, `<dataDir>/secret` (or a row of proxima_secrets when the state is shared in
 * PostgreSQL): 32 random bytes from which every node token is derived.
 * Losing it invalidates every token; leaking it lets anyone mint tokens, so it is mode 0600.
 */
import { randomBytes } from 'node:crypto';
import { link, open, unlink } from 'node:fs/promises';
import path from 'node:path';
import { ErrorCodes, ProximaError } from '../../errors.js';
import { type Logger, silentLogger } from '../../log.js';
import { ensureFolder, syncFolder, tempPathFor } from '../storage/atomic-file.js';
import type { PostgresStore } from '../storage/postgres/postgres-pool.js';

/** Bytes in the server secret. */
export const SECRET_BYTES = 32;

/** The name of the secret file inside the data folder. */
export const SECRET_FILE = 'secret';

/**
 * Loads the secret from `dataDir`, creating the folder and the secret on first start.
 * Two processes starting at once agree on one secret: the secret is written and fsynced under a
 * temp name created with O_EXCL, then hard-linked into place, which fails if the name exists. So
 * nobody ever reads a half-written secret, and a crash leaves either no secret or a whole one.
 */
export async function loadOrCreateSecret(dataDir: string, logger: Logger = silentLogger): Promise<Buffer> {
  const secretPath = path.join(dataDir, SECRET_FILE);
  const existing = await readSecret(secretPath, logger);
  if (existing !== undefined) return existing;
  await ensureFolder(dataDir);
  const tmp = tempPathFor(secretPath);
  try {
    const handle = await open(tmp, 'wx', 0o600);
    try {
      await handle.writeFile(randomBytes(SECRET_BYTES));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await link(tmp, secretPath).then(
      () => logger.info('created a new server secret', { file: secretPath }),
      (err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      },
    );
    await syncFolder(dataDir);
  } catch (err) {
    throw new ProximaError(ErrorCodes.STORE_IO, `cannot create the server secret ${secretPath}`, { cause: err });
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
  const created = await readSecret(secretPath, logger);
  if (created === undefined) throw new ProximaError(ErrorCodes.STORE_IO, `the server secret ${secretPath} vanished`);
  return created;
}

async function readSecret(secretPath: string, logger: Logger): Promise<Buffer | undefined> {
  let handle;
  try {
    handle = await open(secretPath, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ProximaError(ErrorCodes.STORE_IO, `cannot read the server secret ${secretPath}`, { cause: err });
  }
  try {
    const info = await handle.stat();
    if (process.platform !== 'win32' && (info.mode & 0o077) !== 0) {
      logger.warn('the server secret is readable by other users; chmod 600 it', { file: secretPath });
    }
    const secret = await handle.readFile();
    if (secret.length !== SECRET_BYTES) {
      throw new ProximaError(
        ErrorCodes.STORE_CORRUPT,
        `server secret ${secretPath} has ${secret.length} bytes, expected ${SECRET_BYTES}; it is left untouched`,
      );
    }
    return secret;
  } finally {
    await handle.close();
  }
}

/** The row of proxima_secrets that holds the registry secret. */
export const SHARED_SECRET_NAME = 'registry';

/**
 * The registry secret in the shared store (`proxima_secrets`): the first instance to start creates it
 * (INSERT ... ON CONFLICT DO NOTHING) and every instance reads the winner, so all derive the same
 * node tokens. PRX_ERR_STORE_UNAVAILABLE (URL redacted) when the store cannot be reached.
 */
export async function loadOrCreateSharedSecret(store: PostgresStore, logger: Logger = silentLogger): Promise<Buffer> {
  try {
    const created = await store.pool.query(
      'INSERT INTO proxima_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING RETURNING name',
      [SHARED_SECRET_NAME, randomBytes(SECRET_BYTES)],
    );
    if (created.rowCount === 1) logger.info('created a new server secret in the shared store');
    const { rows } = await store.pool.query<{ value: Buffer }>('SELECT value FROM proxima_secrets WHERE name = $1', [SHARED_SECRET_NAME]);
    const secret = rows[0]?.value;
    if (secret === undefined || secret.length !== SECRET_BYTES) {
      throw new ProximaError(
        ErrorCodes.STORE_CORRUPT,
        `the server secret in proxima_secrets has ${secret?.length ?? 0} bytes, expected ${SECRET_BYTES}; it is left untouched`,
      );
    }
    return secret;
  } catch (err) {
    throw store.failure('cannot read the server secret', err);
  }
}
