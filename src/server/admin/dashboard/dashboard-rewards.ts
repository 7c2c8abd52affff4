/**
 * The rewards the dashboard shows: the current epoch and the few before it, settled as of now with
 * the same code as `proxima-server rewards` (rewards-query.ts). Reading an epoch of ledger is costly, so
 * each report is kept for a while (the current epoch 10 s, past ones a minute) and a reading is
 * shared by everyone who asks meanwhile; one reading at a time.
 */

import type { Logger } from '../../../log.js';
import type { LedgerSource } from '../../ledger/ledger.js';
import { Epochs } from '../../rewards/epochs.js';
import type { NodeRewards } from '../../rewards/node-rewards.js';
import { computeRewards } from '../../rewards/rewards-query.js';
import type { RewardRules } from '../../rewards/rules.js';

/** One epoch's report as the page shows it. */
export interface EpochRewards {
  epoch: number;
  fromMs: number;
  toMs: number;
  state: 'open' | 'settling' | 'closed';
  nodes: NodeRewards[];
}

export interface DashboardRewardsOptions {
  dataDir: string;
  /** Where the records are read: PostgreSQL's when configured (open-ledger.ts); the file ledger of dataDir by default. */
  source?: LedgerSource;
  rules: RewardRules;
  /** Past epochs shown besides the current one. */
  pastEpochs?: number;
  now?: () => number;
  logger: Logger;
}

const CURRENT_CACHE_MS = 10_000;
const PAST_CACHE_MS = 60_000;
const MAX_REPORTS = 16;

/** Reports of recent epochs, cached. */
export class DashboardRewards {
  readonly #o: DashboardRewardsOptions;
  readonly #epochs: Epochs;
  readonly #now: () => number;
  readonly #reports = new Map<number, { atMs: number; answer: Promise<NodeRewards[]> }>();
  #readings: Promise<unknown> = Promise.resolve();

  constructor(options: DashboardRewardsOptions) {
    this.#o = options;
    this.#epochs = new Epochs(options.rules);
    this.#now = options.now ?? Date.now;
  }

  /** The current epoch first, then the past ones, newest first. A failed reading is logged and shows as no nodes. */
  async recent(): Promise<EpochRewards[]> {
    const nowMs = this.#now();
    const current = this.#epochs.of(nowMs);
    const wanted = Array.from({ length: 1 + (this.#o.pastEpochs ?? 2) }, (_, i) => current - i);
    return Promise.all(
      wanted.map(async (epoch) => ({
        epoch,
        fromMs: this.#epochs.startMs(epoch),
        toMs: this.#epochs.endMs(epoch),
        state: this.#epochs.state(epoch, nowMs),
        nodes: await this.#report(epoch, epoch === current ? CURRENT_CACHE_MS : PAST_CACHE_MS, nowMs),
      })),
    );
  }

  #report(epoch: number, cacheMs: number, nowMs: number): Promise<NodeRewards[]> {
    const cached = this.#reports.get(epoch);
    if (cached !== undefined && nowMs - cached.atMs < cacheMs) return cached.answer;
    const window = { fromMs: this.#epochs.startMs(epoch), toMs: this.#epochs.endMs(epoch) };
    const answer = this.#readings
      .then(() => computeRewards({ dataDir: this.#o.dataDir, source: this.#o.source, rules: this.#o.rules, window, nowMs }))
      .catch((err: unknown) => {
        this.#o.logger.warn('dashboard: the rewards report could not be read', { err, epoch });
        this.#reports.delete(epoch);
        return [];
      });
    this.#readings = answer;
    this.#reports.set(epoch, { atMs: nowMs, answer });
    for (const key of this.#reports.keys()) if (this.#reports.size > MAX_REPORTS) this.#reports.delete(key);
    return answer;
  }
}
