/**
 * `proxima-server rewards [--epoch N | --from T [--to T]] [--json] [-c FILE]`: what each node earned,
 * read from the ledger (the data folder's, or PostgreSQL's when `store.postgres` is set). It only reads, so it works whether the server runs or not.
 */
import type { Argv } from 'yargs';
import { type CliCommand, ExitCode, formatTable } from '../../cli/frame.js';
import { loadServerConfig } from '../config.js';
import { Epochs } from '../rewards/epochs.js';
import type { NodeRewards } from '../rewards/node-rewards.js';
import { computeRewards, type ResolvedWindow, resolveWindow } from '../rewards/rewards-query.js';
import type { RewardRules } from '../rewards/rules.js';
import { withLedgerSource } from './ledger-source.js';

interface RewardsArgs {
  epoch?: string;
  from?: string;
  to?: string;
  config?: string;
  json: boolean;
}

export const rewardsCommand: CliCommand<RewardsArgs> = {
  command: 'rewards',
  describe:
    "Show each node's requests, tokens, availability, checks and credit for an epoch (the current one by default) or a span of time",
  builder: (argv: Argv) =>
    argv
      .option('epoch', {
        type: 'string',
        requiresArg: true,
        conflicts: ['from', 'to'],
        describe: 'the epoch number (see the heading of the table)',
      })
      .option('from', { type: 'string', requiresArg: true, describe: 'start of a span: ISO 8601 (2025-01-31T12:00:00Z) or ms since 1970' })
      .option('to', { type: 'string', requiresArg: true, implies: 'from', describe: 'end of the span (excluded); now by default' })
      .option('config', { alias: 'c', type: 'string', requiresArg: true, describe: 'the server.yaml file (for dataDir and the rules)' })
      .option('json', { type: 'boolean', default: false, describe: 'print a JSON array, one object per node' })
      .example('$0 rewards --epoch 20120 --json', 'one epoch, for scripts')
      .epilogue('Exit codes: 0 ok, 1 failure (the ledger cannot be read), 2 bad usage or config.') as Argv<RewardsArgs>,
  async run(args, out) {
    const config = loadServerConfig(args.config);
    const rules = config.rewards;
    const nowMs = Date.now();
    const window = resolveWindow(args, rules, nowMs);
    const rows = await withLedgerSource(config, (source) =>
      computeRewards({
        dataDir: config.dataDir,
        source,
        rules,
        window,
        nowMs,
        onSkip: (s) => out.stderr.write(`proxima-server: warning: ${s.file} byte ${s.offset}: skipped a line (${s.reason})\n`),
      }),
    );
    if (args.json) out.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    else out.stdout.write(`${heading(window, rules, nowMs)}\n${rows.length === 0 ? 'no activity\n' : table(rows)}`);
    return ExitCode.OK;
  },
};

function heading(window: ResolvedWindow, rules: RewardRules, nowMs: number): string {
  const span = `${new Date(window.fromMs).toISOString()} to ${new Date(window.toMs).toISOString()}`;
  if (window.epoch === undefined) return `from ${span}`;
  return `epoch ${window.epoch}: ${span} (${new Epochs(rules).state(window.epoch, nowMs)})`;
}

const percent = (value: number | null): string => (value === null ? '-' : `${(value * 100).toFixed(1)}%`);
const credit = (value: number): string => value.toFixed(3);

function table(rows: NodeRewards[]): string {
  return formatTable([
    [
      'NODE',
      'REQUESTS',
      'PROMPT TOKENS',
      'COMPLETION TOKENS',
      'AVAILABILITY',
      'CHECKS PASSED',
      'CHECKS FAILED',
      'PENDING',
      'VALIDATED',
      'FORFEITED',
      'SHARE',
    ],
    ...rows.map((r) => [
      r.node,
      String(r.requests),
      String(r.promptTokens),
      String(r.completionTokens),
      percent(r.availability),
      String(r.checksPassed),
      String(r.checksFailed),
      credit(r.pendingCredit),
      credit(r.validatedCredit),
      credit(r.forfeitedCredit),
      percent(r.share),
    ]),
  ]);
}
