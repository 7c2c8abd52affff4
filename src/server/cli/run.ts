/**
 * `proxima-server [-c FILE]`: runs the super node until SIGTERM or SIGINT, then drains and exits 0.
 * The first log line says where it listens, with the real ports (port 0 in a config picks a free one).
 */
import type { Argv } from 'yargs';
import { type CliCommand, ExitCode } from '../../cli/frame.js';
import { onStopSignals } from '../../cli/signals.js';
import { createLogger, type Logger } from '../../log.js';
import { applyRuntimeTuning, tuningMode } from '../../runtime/index.js';
import { startAdminListener } from '../admin/admin-listener.js';
import { loadServerConfig, type ServerConfig } from '../config.js';
import { openNodeStream } from '../control/node-stream.js';
import { startPublicListener } from '../public/public-listener.js';
import { PublicUrls } from '../public-urls.js';
import { ProximaServer } from '../server.js';
import type { SharedStore } from '../storage/postgres/shared-store.js';
import { logStartWarnings } from './start-warnings.js';

/** The shared PostgreSQL store when `store.postgres` is configured; loaded only then, so a data-folder-only node never loads pg. */
async function openShared(config: ServerConfig, logger: Logger): Promise<SharedStore | undefined> {
  if (config.store?.postgres === undefined) return undefined;
  const { openSharedStore } = await import('../storage/postgres/shared-store.js');
  return openSharedStore(config.store.postgres.url, { logger, pollIntervalMs: config.store.postgres.pollIntervalMs });
}

/** The default command: run the super node. */
export const runCommand: CliCommand<{ config?: string }> = {
  command: '$0',
  describe: 'Run the super node (embedded defaults without -c); SIGTERM or SIGINT drains, then exits 0',
  builder: (argv: Argv) => argv.option('config', { alias: 'c', type: 'string', requiresArg: true, describe: 'the server.yaml file' }),
  async run({ config: file }) {
    const config = loadServerConfig(file);
    const tuning = tuningMode(config.runtime.tuning);
    const applied = await applyRuntimeTuning(tuning);
    const logger = createLogger({ level: config.log.level, format: config.log.format });
    const shared = await openShared(config, logger);
    let server: ProximaServer;
    try {
      server = await ProximaServer.start({
        config,
        openStream: openNodeStream,
        publicListener: startPublicListener,
        adminListener: startAdminListener,
        logger,
        shared,
      });
    } catch (err) {
      await shared?.close();
      throw err;
    }
    logger.info('listening', {
      control: server.controlAddress(),
      http: server.httpAddress() ?? null,
      admin: server.adminAddress() ?? null,
      domain: config.domain,
      dataDir: config.dataDir,
    });
    logStartWarnings(logger, config, server.keys.current);
    const urls = new PublicUrls({ template: config.http.publicUrl, domain: config.domain, port: server.httpAddress()?.port ?? 0 });
    logger.info(`the network's API is at ${urls.api()}`, { apiUrl: urls.api() });
    logger.info('runtime tuning', { mode: tuning, applied });
    let stopListening = (): void => undefined;
    const failure = await new Promise<Error | undefined>((resolve) => {
      stopListening = onStopSignals(
        (signal) => {
          logger.info('draining', { signal, drainTimeoutMs: config.http.drainTimeoutMs });
          resolve(undefined);
        },
        (signal) => {
          logger.warn('stopping now', { signal });
          void server.destroy();
        },
      );
      server.once('error', resolve);
    });
    try {
      if (failure !== undefined) {
        await server.destroy(failure);
        await shared?.close();
        throw failure;
      }
      await server.close();
      await shared?.close();
      logger.info('stopped');
      return ExitCode.OK;
    } finally {
      stopListening();
    }
  },
};
