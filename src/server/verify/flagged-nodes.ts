/**
 * Nodes flagged in an epoch that has not settled get no user traffic (`routing.avoidFlagged`): the
 * canaries tell the router at once when they flag a node, and at start the flags of unsettled epochs
 * are read back from the ledger, so a restart does not give a flagged node its users back.
 */
import type { Logger } from '../../log.js';
import type { LedgerSource } from '../ledger/ledger.js';
import { fileLedgerSource } from '../ledger/ledger-reader.js';
import { Epochs } from '../rewards/epochs.js';
import type { RewardRules } from '../rewards/rules.js';

/** What a flag is told to (the model API's RouteHealth). */
export interface FlagSink {
  flag(node: string, untilMs: number): void;
}

type EpochRules = Pick<RewardRules, 'epochLengthMs' | 'epochOriginMs' | 'settleMs'>;

/** Until when (wall ms) a node flagged in `epoch` is kept from users: the epoch's end plus its settling time. */
export function flagUntilMs(rules: EpochRules, epoch: number): number {
  return new Epochs(rules).endMs(epoch) + rules.settleMs;
}

/** Reads the flags of epochs not yet settled from the ledger into `sink`; resolves with how many it found. */
export async function seedFlags(o: {
  dataDir: string;
  source?: LedgerSource;
  rules: EpochRules;
  now: number;
  sink: FlagSink;
  logger: Logger;
}): Promise<number> {
  const epochs = new Epochs(o.rules);
  const fromMs = epochs.startMs(epochs.of(o.now - o.rules.settleMs));
  let found = 0;
  for await (const record of (o.source ?? fileLedgerSource(o.dataDir)).read({ fromMs })) {
    if (record.type !== 'flag' || epochs.state(record.epoch, o.now) === 'closed') continue;
    o.sink.flag(record.node, flagUntilMs(o.rules, record.epoch));
    found++;
  }
  if (found > 0) o.logger.info('flagged nodes read back from the ledger: no user traffic until their epoch settles', { flags: found });
  return found;
}
