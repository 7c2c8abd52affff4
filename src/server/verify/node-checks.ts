/**
 * The checks the super node runs on its nodes, started with the server: the availability prober
 * and the canaries, both writing to the ledger. The server hands every durable user request record
 * to `consider`; `close()` stops both (what is in flight is cut, not recorded) and leaves no timer.
 */
import type { Logger } from '../../log.js';
import type { LedgerRecord, ProbeRecord, RequestRecord } from '../ledger/ledger-record.js';
import type { RouteHealth } from '../models/routing/route-health.js';
import type { RewardsConfig } from '../rewards/rewards-config.js';
import { Canaries, type CanaryOutcome } from './canaries.js';
import type { CanaryApi } from './canary-call.js';
import type { CanaryPasses } from './canary-passes.js';
import { flagUntilMs } from './flagged-nodes.js';
import { type ProbedCatalog, Prober } from './prober.js';

/** What the checks are built from. */
export interface NodeChecksOptions {
  /** The model API: its catalog, router, pools, and the health view that hears failed probes and flags. */
  api: CanaryApi & { catalog: ProbedCatalog; health?: Pick<RouteHealth, 'probeFailed' | 'flag'> };
  rules: RewardsConfig;
  /** The ledger: resolves once a record is durable. */
  append(record: LedgerRecord): Promise<void>;
  /** Hears each probe and each canary once its records are durable. */
  onProbe(probe: ProbeRecord): void;
  onCanary(outcome: CanaryOutcome): void;
  logger: Logger;
  now?: () => number;
  random?: () => number;
  /** The counts of passed canaries (default: in memory); closed with the checks. */
  passes?: CanaryPasses;
}

/** The prober and the canaries of one super node. */
export class NodeChecks {
  readonly prober: Prober;
  readonly canaries: Canaries;
  readonly #passes: CanaryPasses | undefined;

  constructor(o: NodeChecksOptions) {
    const { rules, now, random } = o;
    const logger = o.logger.child({ component: 'checks' });
    this.#passes = o.passes;
    this.prober = new Prober({
      catalog: o.api.catalog,
      pools: o.api.pools,
      intervalMs: rules.probeIntervalMs,
      timeoutMs: rules.probeTimeoutMs,
      now,
      random,
      logger,
      onServiceFailed: (node, service) => o.api.health?.probeFailed(node, service),
      record: (probe) =>
        void o.append(probe).then(
          () => o.onProbe(probe),
          (err: unknown) => logger.error('ledger append failed', { err, node: probe.node }),
        ),
    });
    this.canaries = new Canaries({
      api: o.api,
      rules,
      now,
      random,
      logger,
      passes: o.passes,
      failing: (node) => this.prober.failing(node),
      onOutcome: o.onCanary,
      onFlag: (node, epoch) => {
        logger.warn('node flagged: it failed a canary', { node, epoch });
        o.api.health?.flag(node, flagUntilMs(rules, epoch));
      },
      write: async (records) => void (await Promise.all(records.map((r) => o.append(r)))),
    });
  }

  /** Maybe follows a durable user request record with a canary. */
  consider(record: RequestRecord): void {
    this.canaries.consider(record);
  }

  /** Stops both. Idempotent. */
  async close(): Promise<void> {
    await Promise.all([this.prober.close(), this.canaries.close()]);
    await this.#passes?.close();
  }

  /** The same as close: nothing in flight is worth waiting for. */
  destroy(): Promise<void> {
    return this.close();
  }
}
