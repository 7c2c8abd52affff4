/** The `presence` section of server.yaml: how often the presence file (or lease) is written (see json-presence-store.ts). */
import { fail, map, optional, pathOf, type Schema, section, withDefault } from '../../config/schema.js';
import { duration } from '../../config/values.js';
import { MINUTE_MS } from '../../time.js';

/** How presence is written. */
export interface PresenceConfig {
  /** The instance's lease is renewed this often; `nodes list` calls it dead after 3 intervals (data folder). */
  leaseIntervalMs: number;
  /** Connects, advert changes and leaves are written at most this long after, at most once per this time (data folder). */
  writeDelayMs: number;
  /** With store.postgres: an instance whose lease was not renewed for this long is dead, its nodes offline everywhere. */
  leaseExpiryMs: number;
}

export const DEFAULT_LEASE_INTERVAL_MS = 5_000;
export const DEFAULT_WRITE_DELAY_MS = 1_000;
export const DEFAULT_LEASE_EXPIRY_MS = 10_000;

/** The schema of `presence`. */
export const presenceSection: Schema<PresenceConfig> = map(
  section({
    leaseIntervalMs: withDefault(duration(100, 10 * MINUTE_MS), DEFAULT_LEASE_INTERVAL_MS),
    writeDelayMs: withDefault(duration(10, MINUTE_MS), DEFAULT_WRITE_DELAY_MS),
    leaseExpiryMs: optional(duration(200, 60 * MINUTE_MS)),
  }),
  // A lease must outlive at least one renewal, or a live instance would be taken for dead. Unset, it
  // is 10 s, or two intervals when those are longer (a data-folder config with a long interval stays valid).
  ({ leaseExpiryMs, ...rest }, path, ctx) => {
    if (leaseExpiryMs === undefined) return { ...rest, leaseExpiryMs: Math.max(DEFAULT_LEASE_EXPIRY_MS, 2 * rest.leaseIntervalMs) };
    if (leaseExpiryMs > rest.leaseIntervalMs) return { ...rest, leaseExpiryMs };
    return fail(ctx, pathOf(path, 'leaseExpiryMs'), `must be longer than presence.leaseIntervalMs (${rest.leaseIntervalMs} ms)`);
  },
);
