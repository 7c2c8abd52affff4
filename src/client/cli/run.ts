/**
 * `proxima-client -c client.yaml`: connects to the super node and stays connected (reconnecting with
 * backoff) until SIGTERM or SIGINT, which drains and exits 0. A refused token or another protocol
 * version stops it with exit code 3 or 1: retrying would not help.
 */
import type { Argv } from 'yargs';
import { type CliCommand, configArgs, ExitCode } from '../../cli/frame.js';
import { onStopSignals } from '../../cli/signals.js';
import { createLogger, type Logger } from '../../log.js';
import { applyRuntimeTuning, tuningMode } from '../../runtime/index.js';
import { advertisedServices, ProximaClient } from '../client.js';
import { loadClientConfig, type OllamaServiceConfig, type ServiceConfig } from '../config.js';
import { Forwarder } from '../forwarder.js';
import { ModelDiscovery } from '../ollama/model-discovery.js';
import { NodeStatus } from '../status/node-status.js';
import { urlLines } from '../status/service-urls.js';

/** The default command: run the node. */
export const runCommand: CliCommand<{ config: string }> = {
  command: '$0',
  describe: 'Connect to the super node and share the services in client.yaml; SIGTERM or SIGINT drains, then exits 0',
  builder: (argv: Argv) =>
    argv.option('config', { alias: 'c', type: 'string', demandOption: true, requiresArg: true, describe: 'the client.yaml file' }),
  quick: (argv) => configArgs(argv, false) as { config: string } | undefined,
  async run({ config: file }) {
    const config = loadClientConfig(file);
    const tuning = tuningMode(config.runtime.tuning);
    const applied = await applyRuntimeTuning(tuning);
    const logger = createLogger({ level: config.log.level, format: config.log.format });
    logger.info('runtime tuning', { mode: tuning, applied });
    // Streams live in the session: closing or destroying the client winds them down too.
    const { maxBodyBytes, bodyTimeoutMs } = config.models;
    const status = new NodeStatus({ ...config, tls: config.tls !== false });
    const forwarder = new Forwarder({ services: config.services, guard: { maxBodyBytes, bodyTimeoutMs }, logger, activity: status });
    // The first read of every Ollama's models comes before the first login, so the node goes
    // online with its models rather than advertising none and then some.
    const discovery = await ModelDiscovery.start({
      services: config.services.filter((s): s is OllamaServiceConfig => s.kind === 'ollama'),
      refreshIntervalMs: config.models.refreshIntervalMs,
      logger,
    });
    const client = ProximaClient.start({
      server: config.server,
      servers: config.servers,
      keepaliveTimeoutMs: config.heartbeat.timeoutMs,
      ...(config.heartbeat.intervalMs === undefined ? {} : { keepaliveIntervalMs: config.heartbeat.intervalMs }),
      tls: config.tls,
      name: config.name,
      token: config.token,
      services: advertisedServices(config.services, discovery.models),
      reconnect: config.reconnect,
      onStream: (stream) => forwarder.handle(stream),
      logger,
    });
    status.models = discovery.models;
    discovery.on('change', (models) => {
      status.models = models;
      client.advertise(advertisedServices(config.services, models));
    });
    status.watch(client);
    printUrls(client, config.services, logger);
    const stopListening = onStopSignals(
      (signal) => {
        logger.info('draining', { signal });
        void client.close();
      },
      (signal) => {
        logger.warn('stopping now', { signal });
        void client.destroy();
      },
    );
    let page: { close(): Promise<void> } | undefined;
    try {
      // Loaded only when on: a node with `status: false` never loads the page, its HTML and earnings.
      page =
        config.status === false
          ? undefined
          : await (await import('../status/status-server.js')).StatusServer.listen({
              ...config.status.listen,
              snapshot: () => status.snapshot(),
              logger,
            });
      const refused = await client.done;
      await discovery.destroy();
      await forwarder.destroy(); // nothing is left by now; a stream that lingered is cut
      await page?.close();
      if (refused !== undefined) throw refused;
      logger.info('stopped');
      return ExitCode.OK;
    } finally {
      stopListening();
    }
  },
};

/** Prints where each service is reached (and the network's API) once online, and again if that changes. */
function printUrls(client: ProximaClient, services: readonly ServiceConfig[], logger: Logger): void {
  let printed = '';
  client.on('online', (welcome) => {
    const lines = urlLines(welcome, services);
    if (lines.join('\n') === printed) return;
    printed = lines.join('\n');
    for (const line of lines) logger.info(line);
  });
}
