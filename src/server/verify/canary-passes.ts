/**
 * How many canaries each node has passed: a node under `newNodeCanaries` gets more of them, and a
 * reference that has passed some is trusted alone. A single super node counts in memory (reset on
 * restart, as before); with the shared PostgreSQL store the counts live in `proxima_canary_passes`:
 * loaded at start, each pass one upsert, and the new count sent to the other instances in a change
 * notice (kind `canary`), so every instance sees the network's count and a restart forgets nothing.
 */
import type { Logger } from '../../log.js';
import type { ChangeMessage } from '../storage/postgres/notifier.js';
import type { SharedStore } from '../storage/postgres/shared-store.js';

/** The counts of passed canaries, by node. */
export interface CanaryPasses {
  get(node: string): number;
  /** One more pass for `node`; never throws (a failed write is logged). */
  passed(node: string): void;
  /** Waits for writes in flight, then stops following changes. Idempotent. */
  close(): Promise<void>;
}

/** The counts in memory: a single super node's, reset on restart. */
export function memoryCanaryPasses(): CanaryPasses {
  const counts = new Map<string, number>();
  return {
    get: (node) => counts.get(node) ?? 0,
    passed: (node) => void counts.set(node, (counts.get(node) ?? 0) + 1),
    close: async () => undefined,
  };
}

/** The counts in PostgreSQL; PRX_ERR_STORE_UNAVAILABLE when they cannot be loaded at start. */
export async function openPostgresCanaryPasses(shared: SharedStore, logger: Logger): Promise<CanaryPasses> {
  const { store, notifier } = shared;
  const counts = new Map<string, number>();
  const writes = new Set<Promise<void>>();
  /** Counts only grow: a late or repeated answer never lowers one. */
  const raise = (node: string, passed: number): void => {
    if (passed > (counts.get(node) ?? 0)) counts.set(node, passed);
  };
  const load = async (): Promise<void> => {
    try {
      const { rows } = await store.pool.query<{ node: string; passed: string }>('SELECT node, passed FROM proxima_canary_passes');
      for (const row of rows) raise(row.node, Number(row.passed));
    } catch (err) {
      throw store.failure('cannot read the canary passes', err);
    }
  };
  await load();
  const onChange = (msg: ChangeMessage): void => {
    if (msg.kind === 'canary' && typeof msg.node === 'string' && typeof msg.passed === 'number') raise(msg.node, msg.passed);
  };
  const onResync = (): void => void load().catch((err: unknown) => logger.warn('canary passes: reloading failed', { err }));
  notifier.on('change', onChange);
  notifier.on('resync', onResync);
  const write = async (node: string): Promise<void> => {
    try {
      const { rows } = await store.pool.query<{ passed: string }>(
        `INSERT INTO proxima_canary_passes (node, passed) VALUES ($1, 1)
         ON CONFLICT (node) DO UPDATE SET passed = proxima_canary_passes.passed + 1, updated_at = now() RETURNING passed`,
        [node],
      );
      const passed = Number(rows[0]!.passed);
      raise(node, passed);
      await notifier.notify({ kind: 'canary', node, passed });
    } catch (err) {
      logger.warn('canary passes: a pass was not stored', { node, err: store.failure('canary pass', err) });
    }
  };
  let closed: Promise<void> | undefined;
  return {
    get: (node) => counts.get(node) ?? 0,
    passed(node) {
      counts.set(node, (counts.get(node) ?? 0) + 1); // at once here; the stored count follows
      const done = write(node).finally(() => writes.delete(done));
      writes.add(done);
    },
    close() {
      closed ??= (async () => {
        notifier.off('change', onChange);
        notifier.off('resync', onResync);
        await Promise.all([...writes]);
      })();
      return closed;
    },
  };
}
