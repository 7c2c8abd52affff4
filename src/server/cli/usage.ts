/**
 * `proxima-server usage [--by node|key|model] [--epoch N] [--json] [-c FILE]`: the requests of an
 * epoch (the current one by default) grouped by node, API key id or model, read from the ledger in
 * the data folder (or PostgreSQL when `store.postgres` is set). It only reads, so it works whether the server runs or not.
 */
import type { Argv } from 'yargs';
import { type CliCommand, ExitCode, formatTable } from '../../cli/frame.js';
import { loadServerConfig } from '../config.js';
import { Epochs } from '../rewards/epochs.js';
import { resolveWindow } from '../rewards/rewards-query.js';
import { computeUsage, parseGrouping, USAGE_GROUPINGS, type UsageGrouping, type UsageRow } from '../rewards/usage-report.js';
import { withLedgerSource } from './ledger-source.js';

interface UsageArgs {
  by: string;
  epoch?: string;
  config?: string;
  json: boolean;
}

const HEADINGS: Record<UsageGrouping, string> = { node: 'NODE', key: 'KEY ID', model: 'MODEL' };

export const usageCommand: CliCommand<UsageArgs> = {
  command: 'usage',
  describe: 'Show the requests, outcomes and tokens of an epoch (the current one by default) by node, API key id or model',
  builder: (argv: Argv) =>
    argv
      .option('by', { type: 'string', default: 'node', requiresArg: true, describe: `group by ${USAGE_GROUPINGS.join(', ')}` })
      .option('epoch', { type: 'string', requiresArg: true, describe: 'the epoch number (see the heading of the table)' })
      .option('config', { alias: 'c', type: 'string', requiresArg: true, describe: 'the server.yaml file (for dataDir and the rules)' })
      .option('json', { type: 'boolean', default: false, describe: 'print a JSON array, one object per group' })
      .example('$0 usage --by model --epoch 20120 --json', 'one epoch by model, for scripts')
      .epilogue(
        'Key ids are shown, never keys. Exit codes: 0 ok, 1 failure (the ledger cannot be read), 2 bad usage or config.',
      ) as Argv<UsageArgs>,
  async run(args, out) {
    const by = parseGrouping(args.by);
    const config = loadServerConfig(args.config);
    const rules = config.rewards;
    const nowMs = Date.now();
    const window = resolveWindow({ epoch: args.epoch }, rules, nowMs);
    const rows = await withLedgerSource(config, (source) =>
      computeUsage({
        dataDir: config.dataDir,
        source,
        rules,
        window,
        by,
        nowMs,
        onSkip: (s) => out.stderr.write(`proxima-server: warning: ${s.file} byte ${s.offset}: skipped a line (${s.reason})\n`),
      }),
    );
    if (args.json) {
      out.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      return ExitCode.OK;
    }
    const epoch = window.epoch!;
    const span = `${new Date(window.fromMs).toISOString()} to ${new Date(window.toMs).toISOString()}`;
    out.stdout.write(`epoch ${epoch}: ${span} (${new Epochs(rules).state(epoch, nowMs)}), by ${by}\n`);
    out.stdout.write(rows.length === 0 ? 'no requests\n' : table(by, rows));
    return ExitCode.OK;
  },
};

const list = (names: string[] | undefined): string => (names === undefined || names.length === 0 ? '-' : names.join(','));

function table(by: UsageGrouping, rows: UsageRow[]): string {
  const extra = by === 'node' ? ['MODELS', 'CREDIT', 'FORFEITED'] : by === 'key' ? ['MODELS', 'NODES'] : ['NODES'];
  return formatTable([
    [HEADINGS[by], 'REQUESTS', 'OK', 'FAILED', 'ABORTED', 'PROMPT TOKENS', 'COMPLETION TOKENS', ...extra],
    ...rows.map((r) => {
      const tail =
        by === 'node'
          ? [list(r.models), (r.credit ?? 0).toFixed(3), (r.forfeitedCredit ?? 0).toFixed(3)]
          : by === 'key'
            ? [list(r.models), list(r.nodes)]
            : [list(r.nodes)];
      const counts = [r.requests, r.ok, r.failed, r.aborted, r.promptTokens, r.completionTokens].map(String);
      return [r.group ?? '(no key)', ...counts, ...tail];
    }),
  ]);
}
