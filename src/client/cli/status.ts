/**
 * `proxima-client status -c client.yaml`: what the running client's status page shows, in the
 * terminal. Exits 1 when no client for this node answers at the configured address (or the next
 * ports it may have moved to).
 */
import type { Argv } from 'yargs';
import { type CliCommand, ExitCode } from '../../cli/frame.js';
import { ErrorCodes, ProximaError } from '../../errors.js';
import { loadClientConfig } from '../config.js';

export const statusCommand: CliCommand<{ config: string; json: boolean }> = {
  command: 'status',
  describe: "Show the running node's status: connection, URLs, models, requests, errors, earnings",
  builder: (argv: Argv) =>
    argv
      .option('config', { alias: 'c', type: 'string', demandOption: true, requiresArg: true, describe: 'the client.yaml file' })
      .option('json', { type: 'boolean', default: false, describe: 'print the JSON of /api/status' }) as Argv<{
      config: string;
      json: boolean;
    }>,
  async run({ config: file, json }, out) {
    const config = loadClientConfig(file);
    if (config.status === false) throw new ProximaError(ErrorCodes.USAGE, `the status page is off in ${file} (status: false)`);
    const { host, port } = config.status.listen;
    // Loaded here: `proxima-client -c` loads this command's module, never its work (nor the page's).
    const [{ PORT_TRIES }, { findStatus, statusText }] = await Promise.all([
      import('../status/status-server.js'),
      import('../status/status-text.js'),
    ]);
    const found = await findStatus(host, port, config.name);
    if (found === undefined) {
      const where =
        port === 0
          ? `${host}:0 (a port chosen at start; see the client's "status page at" line)`
          : `${host}:${port} to ${port + PORT_TRIES - 1}`;
      throw new ProximaError(ErrorCodes.CONNECT_FAILED, `no proxima-client for node ${config.name} answers at ${where}: is it running?`);
    }
    out.stdout.write(json ? `${JSON.stringify(found.status, null, 2)}\n` : statusText(found.status));
    return ExitCode.OK;
  },
};
