/**
 * How a super node is started and what it tells its owner: the options of ProximaServer.start and
 * the events of a running ProximaServer (server.ts).
 */
import type { Registry as MetricsRegistry } from 'prom-client';
import type { Logger } from '../log.js';
import type { AdminListenerFactory } from './admin/admin-listener.js';
import type { ServerConfig } from './config.js';
import type { OpenStream } from './control/node-session.js';
import type { ProbeRecord, RequestRecord } from './ledger/ledger-record.js';
import type { RemotePresence } from './presence/remote-presence.js';
import type { PublicListenerFactory } from './public/public-listener.js';
import type { OpenRegistryOptions } from './registry/open-registry.js';
import type { AuthThrottles } from './server-api.js';
import type { CanaryOutcome } from './verify/canaries.js';

/** How to start a super node. */
export interface ProximaServerOptions {
  config: ServerConfig;
  /** The data plane's stream opener (see node-session.ts). */
  openStream: OpenStream;
  publicListener?: PublicListenerFactory;
  /** The admin listener (health, metrics): the CLI passes one; without it there is none. */
  adminListener?: AdminListenerFactory;
  logger?: Logger;
  /** Registry tuning: clock, nonce limits, store polling (tests). */
  registry?: Partial<Omit<OpenRegistryOptions, 'dataDir' | 'logger'>>;
  /** Handshakes in progress at most on the control port (overrides control.maxHandshakes). */
  maxHandshakes?: number;
  /** The throttles of failed credentials per client address (tests shorten them). */
  authThrottles?: Partial<AuthThrottles>;
  /** The clock of the ledger and the rewards reports (which epoch is current, which have closed). */
  now?: () => number;
  /** Breaks ties when the API routes a request among equally busy nodes (tests). */
  random?: () => number;
  /** Jitters the probes' schedule, draws canaries and their prompts (tests). */
  checksRandom?: () => number;
  /** Where the request metrics are registered (tests); by default `metrics.registry` (none when metrics.enabled is false). */
  metricsRegistry?: MetricsRegistry;
  /** The nodes other instances hold (cluster): with `cluster` configured, requests for them cross a peer link. */
  remotePresence?: RemotePresence;
  /** This instance's id in a cluster (the shared store's); a random one when absent. */
  instance?: string;
}

export interface ProximaServerEvents {
  /** The registry failed (its file went corrupt, say): the server should stop. */
  error: [err: Error];
  /** A routed API request's record is durable in the ledger. */
  usage: [record: RequestRecord];
  /** A probe's record is durable in the ledger. */
  probe: [record: ProbeRecord];
  /** A canary's records (request, verdict, flag) are durable in the ledger. */
  canary: [outcome: CanaryOutcome];
}
