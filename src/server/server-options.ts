/**
 * How a super node is started and what it tells its owner: the options of ProximaServer.start and
 * the events of a running ProximaServer (server.ts).
 */
import type { Logger } from '../log.js';
import type { AdminListenerFactory } from './admin/admin-listener.js';
import { AuthThrottle } from './api-host/auth-throttle.js';
import type { ServerConfig } from './config.js';
import type { ControlListenerOptions } from './control/control-listener.js';
import type { OpenStream } from './control/node-session.js';
import type { ProbeRecord, RequestRecord } from './ledger/ledger-record.js';
import type { MetricSink } from './observe/tallies.js';
import type { RemotePresence } from './presence/remote-presence.js';
import type { PublicListenerFactory } from './public/public-listener.js';
import type { PublicUrls } from './public-urls.js';
import type { OpenRegistryOptions } from './registry/open-registry.js';
import type { AuthThrottles } from './server-api.js';
import type { SharedStore } from './storage/postgres/shared-store.js';
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
  metricsRegistry?: MetricSink;
  /**
   * The shared PostgreSQL store (registry, keys, canary passes...), opened by the caller (run.ts when
   * `store.postgres` is set) and closed by it after server.close(); absent: the data folder alone.
   */
  shared?: SharedStore;
  /**
   * The nodes other instances hold (cluster), when not the shared store's own feed (tests without
   * PostgreSQL): with `cluster` configured, requests for them cross a peer link.
   */
  remotePresence?: RemotePresence;
  /** This instance's id in a cluster; by default the shared store's, else a random one. */
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

/** The throttles of failed credentials: those given (tests share them between servers), else new ones. */
export function authThrottles(given: Partial<AuthThrottles> | undefined): AuthThrottles {
  return {
    apiKeys: given?.apiKeys ?? new AuthThrottle(),
    admin: given?.admin ?? new AuthThrottle(),
    nodes: given?.nodes ?? new AuthThrottle(),
    metrics: given?.metrics ?? new AuthThrottle(),
  };
}

/** The control listener's options from server.yaml's `control` (and `http.drainTimeoutMs`). */
export function controlListenerOptions(
  config: ServerConfig,
  options: Pick<ProximaServerOptions, 'maxHandshakes'>,
  o: Pick<ControlListenerOptions, 'authThrottle' | 'registry' | 'onSession' | 'logger'> & { urls: PublicUrls },
): ControlListenerOptions {
  const { control } = config;
  const { urls } = o;
  return {
    ...control.listen,
    tls: control.tls,
    handshakeTimeoutMs: control.handshakeTimeoutMs,
    preambleTimeoutMs: control.preambleTimeoutMs,
    maxHandshakesPerAddress: control.maxHandshakesPerAddress,
    authThrottle: o.authThrottle,
    heartbeatIntervalMs: control.heartbeatIntervalMs,
    heartbeatTimeoutMs: control.heartbeatTimeoutMs,
    closeTimeoutMs: config.http.drainTimeoutMs,
    maxHandshakes: options.maxHandshakes ?? control.maxHandshakes,
    registry: o.registry,
    publicUrl: (name) => urls.node(name),
    welcomeUrls: (name) => ({ apiUrl: urls.api(), serviceUrlTemplate: urls.serviceTemplate(name) }),
    onSession: o.onSession,
    logger: o.logger,
  };
}
