/** The `presence` section of server.yaml: how often the presence file is written (see json-presence-store.ts). */
import { type Schema, section, withDefault } from '../../config/schema.js';
import { duration } from '../../config/values.js';
import { MINUTE_MS } from '../../time.js';

/** How presence is written. */
export interface PresenceConfig {
  /** The instance's lease is renewed this often; `nodes list` calls it dead after 3 intervals. */
  leaseIntervalMs: number;
  /** Connects, advert changes and leaves are written at most this long after, at most once per this time. */
  writeDelayMs: number;
}

export const DEFAULT_LEASE_INTERVAL_MS = 5_000;
export const DEFAULT_WRITE_DELAY_MS = 1_000;

/** The schema of `presence`. */
export const presenceSection: Schema<PresenceConfig> = section({
  leaseIntervalMs: withDefault(duration(100, 10 * MINUTE_MS), DEFAULT_LEASE_INTERVAL_MS),
  writeDelayMs: withDefault(duration(10, MINUTE_MS), DEFAULT_WRITE_DELAY_MS),
});
