/**
 * A rewards report as the CLI and the HTTP API ask for it: an epoch (the current one by default)
 * or a span of time, read from the ledger in the data folder and settled as of now.
 */
import { ErrorCodes, ProximaError } from '../../errors.js';
import type { LedgerSource } from '../ledger/ledger.js';
import { fileLedgerSource, type SkippedLine } from '../ledger/ledger-reader.js';
import { Epochs } from './epochs.js';
import { emptyCounts, type NodeRewards, settleNode } from './node-rewards.js';
import { RewardsTally, type RewardsWindow } from './rewards-tally.js';
import type { RewardRules } from './rules.js';

/** The options as typed: `--epoch N`, or `--from T [--to T]` (T: ISO 8601 or milliseconds since the Unix epoch). */
export interface RewardsQuery {
  epoch?: string | number;
  from?: string | number;
  to?: string | number;
}

/** A resolved query: the window, and the epoch when one was asked for. */
export interface ResolvedWindow extends RewardsWindow {
  epoch: number | undefined;
}

const ISO_DATE = /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/;

/** Parses a time: an ISO 8601 date or time, or an integer of milliseconds. PRX_ERR_USAGE otherwise. */
export function parseTime(value: string | number, what: string): number {
  const text = String(value).trim();
  const ms = /^\d{1,16}$/.test(text) ? Number(text) : ISO_DATE.test(text) ? Date.parse(text) : NaN;
  if (!Number.isFinite(ms))
    throw new ProximaError(
      ErrorCodes.USAGE,
      `${what} must be an ISO 8601 time or milliseconds since 1970, not ${JSON.stringify(text.slice(0, 40))}`,
    );
  return ms;
}

/** The window a query asks for; the current epoch when it names none. PRX_ERR_USAGE for a bad or mixed query. */
export function resolveWindow(query: RewardsQuery, rules: RewardRules, nowMs: number): ResolvedWindow {
  const epochs = new Epochs(rules);
  const { epoch, from, to } = query;
  if (epoch !== undefined && (from !== undefined || to !== undefined)) {
    throw new ProximaError(ErrorCodes.USAGE, 'give an epoch or a time span (from, to), not both');
  }
  if (from === undefined && to !== undefined) throw new ProximaError(ErrorCodes.USAGE, 'a time span needs its start (from)');
  if (from !== undefined) {
    const fromMs = parseTime(from, 'from');
    const toMs = to === undefined ? nowMs : parseTime(to, 'to');
    if (toMs <= fromMs) throw new ProximaError(ErrorCodes.USAGE, 'the span must end after it starts (to > from)');
    return { fromMs, toMs, epoch: undefined };
  }
  const text = String(epoch ?? epochs.of(nowMs)).trim();
  if (!/^-?\d{1,15}$/.test(text))
    throw new ProximaError(ErrorCodes.USAGE, `epoch must be a whole number, not ${JSON.stringify(text.slice(0, 40))}`);
  const n = Number(text);
  return { fromMs: epochs.startMs(n), toMs: epochs.endMs(n), epoch: n };
}

/** What {@link computeRewards} reads and how it settles. */
export interface ComputeRewardsOptions {
  dataDir: string;
  /** Where the records are read: PostgreSQL's when configured (open-ledger.ts); the file ledger of dataDir by default. */
  source?: LedgerSource;
  rules: RewardRules;
  window: RewardsWindow;
  nowMs: number;
  /** Told about each ledger line that is not a valid record. */
  onSkip?: (skipped: SkippedLine) => void;
}

/** Reads the ledger and settles the window: one entry per node, by name. */
export async function computeRewards(options: ComputeRewardsOptions): Promise<NodeRewards[]> {
  const tally = new RewardsTally(options.rules, options.window);
  for await (const record of (options.source ?? fileLedgerSource(options.dataDir)).read({ fromMs: tally.fromMs, onSkip: options.onSkip }))
    tally.add(record);
  return tally.report(options.nowMs);
}

/** The entry of a node that did nothing in the window. */
export function idleNodeRewards(node: string, rules: RewardRules): NodeRewards {
  const none = { rules, epochs: new Epochs(rules), nowMs: 0, failedCanary: () => false, weight: () => 0 };
  return settleNode(node, emptyCounts(), new Map(), none);
}
