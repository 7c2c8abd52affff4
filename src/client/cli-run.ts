/**
 * `proxima-client -c client.yaml`: connects to the super node and stays connected (reconnecting with
 * backoff) until SIGTERM or SIGINT, which drains and exits 0. A refused token or another protocol
 * version stops it with exit code 3 or 1: retrying would not help.
 */
import type { Argv } from 'yargs';
import { ExitCode, type CliCommand } from '../cli-frame.js';
import { onStopSignals } from '../cli-signals.js';
import { createLogger } from '../log.js';
import type { MuxStream } from '../mux/index.js';
import { advertisedServices, ProximaClient } from './client.js';
import { loadClientConfig } from './config.js';

/**
 * Until the data plane's forwarder is wired in (it goes here), a stream the super node opens is
 * reset, which the super node reports to its user as an unreachable node.
 */
const noForwarder = (stream: MuxStream): void => void stream.destroy();

/** The default command: run the node. */
export const runCommand: CliCommand<{ config: string }> = {
  command: '$0',
  describe: 'Connect to the super node and share the services in client.yaml; SIGTERM or SIGINT drains, then exits 0',
  builder: (argv: Argv) =>
    argv.option('config', { alias: 'c', type: 'string', demandOption: true, requiresArg: true, describe: 'the client.yaml file' }),
  async run({ config: file }) {
    const config = loadClientConfig(file);
    const logger = createLogger({ level: config.log.level });
    const client = ProximaClient.start({
      server: config.server,
      tls: config.tls,
      name: config.name,
      token: config.token,
      services: advertisedServices(config.services),
      reconnect: config.reconnect,
      onStream: noForwarder,
      logger,
    });
    const stopListening = onStopSignals((signal) => {
      logger.info('draining', { signal });
      void client.close();
    }, (signal) => {
      logger.warn('stopping now', { signal });
      void client.destroy();
    });
    try {
      const refused = await client.done;
      if (refused !== undefined) throw refused;
      logger.info('stopped');
      return ExitCode.OK;
    } finally {
      stopListening();
    }
  },
};
