/**
 * The super node: the registry, the control port where nodes log in, the live nodes, and the
 * handler of its own HTTP API. The public HTTP listener (the data plane) plugs in through
 * `publicListener`: it is given the directory of live nodes and the API handler, and closed first.
 */
import { EventEmitter } from 'node:events';
import { type Logger, silentLogger } from '../log.js';
import type { AdminListenerHandle } from './admin/admin-listener.js';
import type { ServerState } from './admin/admin-parts.js';
import type { Dashboard } from './admin/dashboard/dashboard.js';
import { ServerMetrics } from './admin/metrics.js';
import { openAdmin } from './admin/open-admin.js';
import type { ApiHandler } from './api-host/api-server.js';
import { type Cluster, startCluster } from './cluster/cluster.js';
import type { ServerConfig } from './config.js';
import { ControlListener } from './control/control-listener.js';
import { NodeSessions } from './control/node-sessions.js';
import type { LiveKeyStore } from './keys/key-store.js';
import type { Ledger } from './ledger/ledger.js';
import { openLedger } from './ledger/open-ledger.js';
import type { ModelApi } from './models/model-api.js';
import type { NodeDirectory } from './node-directory.js';
import { openPresence, type PresenceParts } from './presence/open-presence.js';
import type { PresenceStore } from './presence/presence-store.js';
import type { RemotePresence } from './presence/remote-presence.js';
import type { BoundAddress, PublicListenerHandle } from './public/public-listener.js';
import { PublicUrls } from './public-urls.js';
import { openRegistry } from './registry/open-registry.js';
import type { Registry } from './registry/registry.js';
import { openServerApi } from './server-api.js';
import { storeReadiness } from './storage/postgres/store-readiness.js';

export type { ProximaServerEvents, ProximaServerOptions } from './server-options.js';

import { authThrottles, controlListenerOptions, type ProximaServerEvents, type ProximaServerOptions } from './server-options.js';
import type { NodeChecks } from './verify/node-checks.js';

/** A running super node. Start it with {@link ProximaServer.start}. */
export class ProximaServer extends EventEmitter<ProximaServerEvents> {
  readonly config: ServerConfig;
  readonly registry: Registry;
  /** The live nodes: the directory the data plane routes with. */
  readonly nodes: NodeSessions;
  /** The handler of the super node's own API. */
  readonly api: ApiHandler;
  /** The usage ledger: one record per routed request, probe, canary verdict and flag. */
  readonly ledger: Ledger;
  /** The OpenAI/Ollama endpoint: its catalog of models, its router and its pools of node streams. */
  readonly models: ModelApi;
  /** The availability prober and the canaries. */
  readonly checks: NodeChecks;
  /** The API keys of `proxima-server keys` (server.yaml's are in the config). */
  readonly keys: LiveKeyStore;
  /** The Prometheus metrics (served at the admin listener's /metrics); undefined when metrics.enabled is false. */
  readonly metrics: ServerMetrics | undefined;
  /** Who is online, written for `nodes list` (presence.json, or PostgreSQL with `shared`). */
  readonly presence: PresenceStore;
  /** With `shared`: the nodes other instances hold (issue 20); undefined on the data folder alone. */
  readonly remotePresence: RemotePresence | undefined;
  readonly #stopPresence: () => Promise<void>;
  /** With `cluster` configured: the peer links and the directory merging local and remote nodes. */
  readonly cluster: Cluster | undefined;
  readonly #control: ControlListener;
  readonly #public: PublicListenerHandle | undefined;
  readonly #admin: AdminListenerHandle | undefined;
  readonly #dashboard: Dashboard | undefined;
  #closing: Promise<void> | undefined;
  #destroying: Promise<void> | undefined;

  private constructor(parts: {
    config: ServerConfig;
    registry: Registry;
    nodes: NodeSessions;
    api: ApiHandler;
    ledger: Ledger;
    models: ModelApi;
    checks: NodeChecks;
    keys: LiveKeyStore;
    presence: PresenceParts;
    cluster: Cluster | undefined;
    control: ControlListener;
    public: PublicListenerHandle | undefined;
    admin: AdminListenerHandle | undefined;
    dashboard: Dashboard | undefined;
    metrics: ServerMetrics | undefined;
    logger: Logger;
  }) {
    super();
    this.config = parts.config;
    this.registry = parts.registry;
    this.nodes = parts.nodes;
    this.api = parts.api;
    this.ledger = parts.ledger;
    this.models = parts.models;
    this.checks = parts.checks;
    this.keys = parts.keys;
    this.presence = parts.presence.store;
    this.remotePresence = parts.presence.remote;
    this.#stopPresence = parts.presence.stop;
    this.cluster = parts.cluster;
    this.#control = parts.control;
    this.#public = parts.public;
    this.#admin = parts.admin;
    this.#dashboard = parts.dashboard;
    this.metrics = parts.metrics;
    this.registry.on('error', (err) => {
      if (this.listenerCount('error') > 0) this.emit('error', err);
      else parts.logger.error('registry failed', { err });
    });
  }

  /**
   * Opens the registry (PRX_ERR_STORE_CORRUPT naming the file if it does not parse), then starts the
   * public listener (if any) and the control port. A failure closes what was started.
   */
  static async start(options: ProximaServerOptions): Promise<ProximaServer> {
    const { config } = options;
    const logger = options.logger ?? silentLogger;
    const registry = await openRegistry({ ...options.registry, dataDir: config.dataDir, logger, shared: options.shared });
    const started: { destroy(): Promise<unknown> }[] = [registry];
    // Set before any request can be routed: nodes can log in only once the control port opens, last.
    let server: ProximaServer | undefined;
    const throttles = authThrottles(options.authThrottles);
    // Off: nothing counts, and no request path pays for a metric.
    const metrics = config.metrics.enabled ? new ServerMetrics() : undefined;
    try {
      const { now } = options;
      const { ledger, source } = await openLedger({
        dataDir: config.dataDir,
        ledger: config.ledger,
        store: options.shared?.store,
        bufferMaxBytes: config.store?.postgres?.bufferMaxBytes,
        now,
        onBatch: metrics?.ledgerBatch,
        logger: logger.child({ component: 'ledger' }),
      });
      started.unshift(ledger);
      if (config.ledger.flushIntervalMs !== undefined)
        logger.warn('ledger.flushIntervalMs has no effect: a batch is written as soon as the disk is free');
      const nodes = await NodeSessions.open({ registry, openStream: options.openStream, logger });
      started.unshift(nodes);
      metrics?.watchNodes(nodes);
      const presenceParts = await openPresence({
        config,
        nodes,
        shared: options.shared,
        peer: config.cluster && `${config.cluster.advertise.host}:${config.cluster.advertise.port}`,
        onLeave: (n) => registry.touch(n),
        now,
        logger,
      });
      started.unshift({ destroy: presenceParts.stop });
      let modelApi: ModelApi | undefined;
      const cluster = await startCluster(config.cluster, {
        nodes,
        remote: options.remotePresence ?? presenceParts.remote,
        instance: options.instance ?? options.shared?.instance,
        serveApi: (stream, node, service) => void (modelApi ? modelApi.serveForwarded(stream, node, service) : stream.destroy()),
        logger,
      });
      if (cluster !== undefined) started.unshift(cluster);
      const directory = cluster?.directory ?? nodes;
      const { api, models, checks, keys, observer } = await openServerApi(
        {
          config,
          registry,
          nodes: directory,
          ledger,
          source,
          presence: presenceParts.view,
          throttles,
          watch: options.registry,
          now,
          random: options.random,
          checksRandom: options.checksRandom,
          logger,
          metricsRegistry: options.metricsRegistry ?? metrics?.registry,
          shared: options.shared,
          onUsage: (record) => server?.emit('usage', record),
          onProbe: (probe) => {
            metrics?.probe(probe);
            server?.emit('probe', probe);
          },
          onCanary: (outcome) => {
            metrics?.canary(outcome);
            server?.emit('canary', outcome);
          },
        },
        started,
      );
      modelApi = models;
      const listener = await options.publicListener?.({ config, directory, api, ledger, logger, observer });
      if (listener !== undefined) started.unshift(listener);
      const publicStats = listener?.stats?.bind(listener);
      if (publicStats !== undefined) metrics?.watchPublic(() => publicStats().open);
      const httpPort = listener?.address().port ?? config.http.listen.port;
      const state = (): ServerState => (server === undefined ? 'starting' : server.#closing === undefined ? 'ready' : 'draining');
      const storeCheck = options.shared && storeReadiness(options.shared.store);
      const remote = presenceParts.remote;
      const adminOptions = { config, listener: options.adminListener, state, registry, nodes, models, ledger, metrics, storeCheck };
      const { admin, dashboard } = await openAdmin({ ...adminOptions, throttles, source, now, logger, remote }, started);
      const urls = new PublicUrls({ template: config.http.publicUrl, domain: config.domain, port: httpPort });
      const control = await ControlListener.listen(
        controlListenerOptions(config, options, {
          authThrottle: throttles.nodes,
          registry,
          urls,
          onSession: (name, session, peer) => nodes.attach(name, session, peer),
          logger,
        }),
      );
      server = new ProximaServer({
        config,
        registry,
        nodes,
        api,
        ledger,
        models,
        checks,
        keys,
        presence: presenceParts,
        cluster,
        control,
        public: listener,
        admin,
        dashboard,
        metrics,
        logger,
      });
      dashboard?.follow(server);
      return server;
    } catch (err) {
      for (const part of started) await part.destroy();
      throw err;
    }
  }

  /** The directory of live nodes, for the data plane. */
  get directory(): NodeDirectory {
    return this.cluster?.directory ?? this.nodes;
  }

  /** Where the control port listens (the real port when 0 was configured). */
  controlAddress(): BoundAddress {
    return this.#control.address();
  }

  /** Where the public HTTP listener listens, when there is one. */
  httpAddress(): BoundAddress | undefined {
    return this.#public?.address();
  }

  /** Where the admin listener (health, metrics) listens, when there is one. */
  adminAddress(): BoundAddress | undefined {
    return this.#admin?.address();
  }

  /**
   * Drains: the control port stops accepting, the public listener finishes its requests, every node
   * is told `drain` and its session closed with GoAway once its streams are done (each bounded by
   * http.drainTimeoutMs); then the ledger and the registry write what is pending. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.checks.close();
      // The API closes its idle streams to nodes at once, so the nodes' sessions are not held up by them.
      await Promise.all([this.#control.close(), this.#public?.close(), this.models.close(), this.nodes.close(), this.cluster?.close()]);
      await this.#stopPresence();
      await this.ledger.close();
      await this.keys.close();
      await this.registry.close();
      await this.#control.closed;
      // Last: /readyz says 503 while the rest drains.
      await this.#admin?.close();
      this.#dashboard?.close();
    })();
    return this.#closing;
  }

  /** Stops at once: every connection and stream is cut. Idempotent. */
  destroy(err?: Error): Promise<void> {
    this.#destroying ??= (async () => {
      await this.checks.destroy();
      const cluster = this.cluster?.destroy();
      await Promise.all([this.#control.destroy(), this.#public?.destroy(err), this.models.destroy(), this.nodes.destroy(err)]);
      await cluster;
      await this.#stopPresence();
      await this.ledger.destroy(err);
      await this.keys.close();
      await this.registry.destroy(err);
      await this.#control.closed;
      await this.#admin?.destroy();
      this.#dashboard?.close();
    })();
    return this.#destroying;
  }
}
