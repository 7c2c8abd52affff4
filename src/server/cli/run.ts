/**
 * `proxima-server [-c FILE]`: runs the super node until SIGTERM or SIGINT, then drains and exits 0.
 * The first log line says where it listens, with the real ports (port 0 in a config picks a free one).
 */
import type { Argv } from 'yargs';
import { type CliCommand, configArgs, ExitCode } from '../../cli/frame.js';
import { onStopSignals } from '../../cli/signals.js';
import { createLogger } from '../../log.js';
import { applyRuntimeTuning, tuningMode } from '../../runtime/index.js';
import { startAdminListener } from '../admin/admin-listener.js';
import { loadServerConfig } from '../config.js';
import { openNodeStream } from '../control/node-stream.js';
import { startPublicListener } from '../public/public-listener.js';
import { PublicUrls } from '../public-urls.js';
import { ProximaServer } from '../server.js';
import { openShared } from './open-shared.js';
import { logStartWarnings } from './start-warnings.js';

/** The default command: run the super node. */
export const runCommand: CliCommand<{ config?: string }> = {
  command: '$0',
  describe: 'Run the super node (embedded defaults without -c); SIGTERM or SIGINT drains, then exits 0',
  builder: (argv: Argv) => argv.option('config', { alias: 'c', type: 'string', requiresArg: true, describe: 'the server.yaml file' }),
  quick: (argv) => configArgs(argv, true),
  async run({ config: file }) {
    const config = loadServerConfig(file);
    const tuning = tuningMode(config.runtime.tuning);
    const applied = await applyRuntimeTuning(tuning, 'super-node');
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
