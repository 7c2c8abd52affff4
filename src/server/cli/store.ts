/**
 * `proxima-server store migrate -c server.yaml [--from DATADIR]`: copies a data folder (nodes, the
 * registry secret, API keys, the ledger) into the PostgreSQL store of server.yaml (or
 * PROXIMA_DATABASE_URL), bringing its schema up to date first. Run it before the instances start
 * on PostgreSQL; running it again copies nothing new and says so.
 */
import type { Argv } from 'yargs';
import { type CliCommand, ExitCode } from '../../cli/frame.js';
import { ErrorCodes, ProximaError } from '../../errors.js';
import { createLogger } from '../../log.js';
import { loadServerConfig } from '../config.js';
import type { Copied } from './store-migrate.js';

interface StoreArgs {
  action: 'migrate';
  config?: string;
  from?: string;
}

export const storeCommand: CliCommand<StoreArgs> = {
  command: 'store <action>',
  describe: "Copy a data folder's nodes, secret, API keys and ledger into PostgreSQL (store.postgres.url)",
  builder: (argv: Argv) =>
    argv
      .positional('action', { choices: ['migrate'] as const, describe: 'migrate: copy the data folder into PostgreSQL' })
      .option('config', { alias: 'c', type: 'string', requiresArg: true, describe: 'the server.yaml file (store.postgres.url, dataDir)' })
      .option('from', { type: 'string', requiresArg: true, describe: "the data folder to copy (server.yaml's dataDir by default)" })
      .example('$0 store migrate -c server.yaml', 'copy dataDir into PostgreSQL, then start the instances on it')
      .epilogue(
        'Idempotent: a second run copies nothing new. Refused (exit 1, nothing copied) when PostgreSQL holds a different registry secret. Exit codes: 0 ok, 1 failure, 2 bad usage or config.',
      ) as Argv<StoreArgs>,
  async run(args, out) {
    const config = loadServerConfig(args.config);
    const postgres = config.store?.postgres;
    if (postgres === undefined) {
      throw new ProximaError(ErrorCodes.USAGE, 'store migrate needs store.postgres.url in server.yaml (or PROXIMA_DATABASE_URL)');
    }
    const dataDir = args.from ?? config.dataDir;
    const logger = createLogger({
      level: 'warn',
      format: 'json',
      stream: { write: (line: string) => out.stderr.write(line) !== undefined },
    });
    const { openPostgres } = await import('../storage/postgres/postgres-pool.js');
    const { migrate } = await import('../storage/postgres/migrate.js');
    const { migrateDataDir } = await import('./store-migrate.js');
    const store = await openPostgres({ url: postgres.url, max: 2, applicationName: 'proxima-server store migrate', logger });
    try {
      await migrate(store, { logger });
      out.stdout.write(`copying ${dataDir} into ${store.redactedUrl}\n`);
      const report = await migrateDataDir({
        dataDir,
        store,
        onSkip: (s) => out.stderr.write(`proxima-server: warning: ${s.file} byte ${s.offset}: skipped a line (${s.reason})\n`),
      });
      const line = (what: string, c: Copied): string => `${what}: ${c.copied} copied, ${c.present} already there\n`;
      out.stdout.write(
        `secret: ${report.secret === 'none' ? 'none in the data folder' : report.secret === 'copied' ? 'copied' : 'already there (the same)'}\n`,
      );
      out.stdout.write(line('nodes', report.nodes) + line('API keys', report.keys) + line('ledger records', report.ledger));
      const copied = report.nodes.copied + report.keys.copied + report.ledger.copied + (report.secret === 'copied' ? 1 : 0);
      if (copied === 0) out.stdout.write('nothing new to copy: PostgreSQL already holds everything in this data folder\n');
      return ExitCode.OK;
    } finally {
      await store.close();
    }
  },
};
