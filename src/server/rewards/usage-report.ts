/**
 * Usage reports: the requests of a window grouped by node, by API key id or by model, with tokens
 * billed as the rewards count them (billedTokens: the smaller of reported and observed) and, by node,
 * the credit of the rewards tally (read in the same pass over the ledger, never computed twice).
 */
import { ErrorCodes, ProximaError } from '../../errors.js';
import type { LedgerSource } from '../ledger/ledger.js';
import { fileLedgerSource, type SkippedLine } from '../ledger/ledger-reader.js';
import type { LedgerRecord, RequestRecord } from '../ledger/ledger-record.js';
import { round } from './node-rewards.js';
import { billedTokens } from './request-credit.js';
import { RewardsTally, type RewardsWindow } from './rewards-tally.js';
import type { RewardRules } from './rules.js';

/** How requests are grouped. */
export type UsageGrouping = 'node' | 'key' | 'model';

export const USAGE_GROUPINGS: readonly UsageGrouping[] = ['node', 'key', 'model'];

/** One group's line; the JSON of `usage --json` and `GET /admin/usage`. */
export interface UsageRow {
  /** The node name, the key id (null: requests without a key, the open API or the super node's own checks), or the model. */
  group: string | null;
  requests: number;
  /** Outcome `ok`. */
  ok: number;
  /** `node_error` and `timeout`. */
  failed: number;
  /** Cancelled by the user (`client_abort`). */
  aborted: number;
  /** Tokens billed, as the rewards count them. */
  promptTokens: number;
  completionTokens: number;
  /** The models asked for (by node and by key). */
  models?: string[];
  /** The nodes that served it (by key and by model). */
  nodes?: string[];
  /** By node: the rewards report's credit for the window (pending + validated), and what was forfeited. */
  credit?: number;
  forfeitedCredit?: number;
}

/** Parses `--by` / `?by=`: PRX_ERR_USAGE naming the choices otherwise. */
export function parseGrouping(value: unknown): UsageGrouping {
  if (USAGE_GROUPINGS.includes(value as UsageGrouping)) return value as UsageGrouping;
  const shown = typeof value === 'string' ? JSON.stringify(value.slice(0, 40)) : String(value);
  throw new ProximaError(ErrorCodes.USAGE, `by must be one of ${USAGE_GROUPINGS.join(', ')}, not ${shown}`);
}

interface Group {
  row: UsageRow;
  models: Set<string>;
  nodes: Set<string>;
}

/** Accumulates request records of a window by one grouping. Pure: no I/O. */
export class UsageTally {
  readonly #by: UsageGrouping;
  readonly #rules: RewardRules;
  readonly #window: RewardsWindow;
  readonly #groups = new Map<string | null, Group>();

  constructor(by: UsageGrouping, rules: RewardRules, window: RewardsWindow) {
    this.#by = by;
    this.#rules = rules;
    this.#window = window;
  }

  /** Takes one record; other types and times outside the window are ignored. */
  add(record: LedgerRecord): void {
    if (record.type !== 'request') return;
    const timeMs = Date.parse(record.time);
    if (timeMs < this.#window.fromMs || timeMs >= this.#window.toMs) return;
    const g = this.#groupOf(this.#keyOf(record));
    const { row } = g;
    row.requests += 1;
    if (record.outcome === 'ok') row.ok += 1;
    else if (record.outcome === 'client_abort') row.aborted += 1;
    else row.failed += 1;
    const tokens = billedTokens(record, this.#rules);
    row.promptTokens += tokens.prompt;
    row.completionTokens += tokens.completion;
    g.models.add(record.model);
    g.nodes.add(record.node);
  }

  /** The groups, sorted by name (null last); `credit` fills in the credit of nodes. */
  report(credit?: ReadonlyMap<string, { credit: number; forfeitedCredit: number }>): UsageRow[] {
    const rows = [...this.#groups.values()].map(({ row, models, nodes }) => {
      const out: UsageRow = { ...row };
      if (this.#by !== 'model') out.models = [...models].sort();
      if (this.#by !== 'node') out.nodes = [...nodes].sort();
      if (this.#by === 'node') {
        const c = credit?.get(row.group!);
        out.credit = c?.credit ?? 0;
        out.forfeitedCredit = c?.forfeitedCredit ?? 0;
      }
      return out;
    });
    return rows.sort((a, b) => (a.group === b.group ? 0 : a.group === null ? 1 : b.group === null ? -1 : a.group < b.group ? -1 : 1));
  }

  #keyOf(record: RequestRecord): string | null {
    if (this.#by === 'node') return record.node;
    if (this.#by === 'model') return record.model;
    return record.keyId;
  }

  #groupOf(key: string | null): Group {
    let g = this.#groups.get(key);
    if (g === undefined) {
      const row: UsageRow = { group: key, requests: 0, ok: 0, failed: 0, aborted: 0, promptTokens: 0, completionTokens: 0 };
      this.#groups.set(key, (g = { row, models: new Set(), nodes: new Set() }));
    }
    return g;
  }
}

/** What {@link computeUsage} reads. */
export interface ComputeUsageOptions {
  dataDir: string;
  /** Where the records are read: PostgreSQL's when configured (open-ledger.ts); the file ledger of dataDir by default. */
  source?: LedgerSource;
  rules: RewardRules;
  window: RewardsWindow;
  by: UsageGrouping;
  nowMs: number;
  onSkip?: (skipped: SkippedLine) => void;
}

/** Reads the ledger once; by node, the rewards tally settles the credit in the same pass. */
export async function computeUsage(options: ComputeUsageOptions): Promise<UsageRow[]> {
  const { by, rules, window } = options;
  const usage = new UsageTally(by, rules, window);
  const rewards = by === 'node' ? new RewardsTally(rules, window) : undefined;
  const fromMs = rewards?.fromMs ?? window.fromMs;
  for await (const record of (options.source ?? fileLedgerSource(options.dataDir)).read({ fromMs, onSkip: options.onSkip })) {
    usage.add(record);
    rewards?.add(record);
  }
  if (rewards === undefined) return usage.report();
  const credit = new Map(
    rewards
      .report(options.nowMs)
      .map((r) => [r.node, { credit: round(r.pendingCredit + r.validatedCredit), forfeitedCredit: r.forfeitedCredit }]),
  );
  return usage.report(credit);
}
