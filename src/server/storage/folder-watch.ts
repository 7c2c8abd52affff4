/**
 * Notices that a file may have changed, within a poll interval at worst: fs.watch on its folder
 * (every atomic write replaces the file by rename, so watching the file itself would go deaf),
 * plus a stat poll for file systems where fs.watch is missing or unreliable (network folders, some
 * containers). Callers compare file identities; a spurious call costs one stat.
 */
import { type FSWatcher, watch } from 'node:fs';
import path from 'node:path';
import { type Logger, silentLogger } from '../../log.js';

/** How to watch. */
export interface FolderWatchOptions {
  /** Use fs.watch on the folder. */
  watch?: boolean;
  /** Call `onMaybeChanged` this often regardless; 0 turns polling off. */
  pollIntervalMs?: number;
  logger?: Logger;
}

/** A running watch; `close()` stops it (idempotent). */
export interface FolderWatch {
  close(): void;
}

/** Calls `onMaybeChanged` when `filePath` may have been written, created, replaced or removed. */
export function watchFileInFolder(filePath: string, options: FolderWatchOptions, onMaybeChanged: () => void): FolderWatch {
  const logger = options.logger ?? silentLogger;
  const fileName = path.basename(filePath);
  let watcher: FSWatcher | undefined;
  if (options.watch ?? true) {
    try {
      watcher = watch(path.dirname(filePath), { persistent: false }, (_event, changed) => {
        if (changed === null || changed === fileName) onMaybeChanged();
      });
      watcher.on('error', (err) => {
        logger.warn('watching the data folder failed; polling only', { err });
        watcher?.close();
        watcher = undefined;
      });
    } catch (err) {
      logger.warn('cannot watch the data folder; polling only', { err });
    }
  }
  const pollMs = options.pollIntervalMs ?? 500;
  const timer = pollMs > 0 ? setInterval(onMaybeChanged, pollMs).unref() : undefined;
  return {
    close() {
      watcher?.close();
      watcher = undefined;
      clearInterval(timer);
    },
  };
}
