/**
 * The super node: the registry, the control port where nodes log in, the live nodes, and the
 * handler of its own HTTP API. The public HTTP listener (the data plane) plugs in through
 * `publicListener`: it is given the directory of live nodes and the API handler, and closed first.
 */
import { EventEmitter } from 'node:events';
import { ErrorCodes, ProximaError } from '../errors.js';
import { type Logger, silentLogger } from '../log.js';
import { type ApiPart, createApiRouter, refusingPart } from './api-host/api-router.js';
import type { ApiHandler } from './api-host/api-server.js';
import type { ServerConfig } from './config.js';
import { ControlListener } from './control/control-listener.js';
import type { OpenStream } from './control/node-session.js';
import { NodeSessions } from './control/node-sessions.js';
import type { ProbeRecord, RequestRecord } from './ledger/ledger-record.js';
import { LedgerWriter } from './ledger/ledger-writer.js';
import { ModelApi } from './models/model-api.js';
import type { NodeDirectory } from './node-directory.js';
import type { BoundAddress, PublicListenerFactory, PublicListenerHandle } from './public/public-listener.js';
import { createNodesApi } from './registry/nodes-api.js';
import { type OpenRegistryOptions, openRegistry } from './registry/open-registry.js';
import type { Registry } from './registry/registry.js';
import { createRewardsApi } from './rewards/rewards-api.js';
import type { CanaryOutcome } from './verify/canaries.js';
import { NodeChecks } from './verify/node-checks.js';

/** How to start a super node. */
export interface ProximaServerOptions {
  config: ServerConfig;
  /** The data plane's stream opener (see node-session.ts). */
  openStream: OpenStream;
  publicListener?: PublicListenerFactory;
  logger?: Logger;
  /** Registry tuning: clock, nonce limits, store polling (tests). */
  registry?: Partial<Omit<OpenRegistryOptions, 'dataDir' | 'logger'>>;
  /** Handshakes in progress at most on the control port. */
  maxHandshakes?: number;
  /** The clock of the ledger and the rewards reports (which epoch is current, which have closed). */
  now?: () => number;
  /** Breaks ties when the API routes a request among equally busy nodes (tests). */
  random?: () => number;
  /** Jitters the probes' schedule, draws canaries and their prompts (tests). */
  checksRandom?: () => number;
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

/** A running super node. Start it with {@link ProximaServer.start}. */
export class ProximaServer extends EventEmitter<ProximaServerEvents> {
  readonly config: ServerConfig;
  readonly registry: Registry;
  /** The live nodes: the directory the data plane routes with. */
  readonly nodes: NodeSessions;
  /** The handler of the super node's own API. */
  readonly api: ApiHandler;
  /** The usage ledger: one record per routed request, probe, canary verdict and flag. */
  readonly ledger: LedgerWriter;
  /** The OpenAI/Ollama endpoint: its catalog of models, its router and its pools of node streams. */
  readonly models: ModelApi;
  /** The availability prober and the canaries. */
  readonly checks: NodeChecks;
  readonly #control: ControlListener;
  readonly #public: PublicListenerHandle | undefined;
  #closing: Promise<void> | undefined;
  #destroying: Promise<void> | undefined;

  private constructor(parts: {
    config: ServerConfig;
    registry: Registry;
    nodes: NodeSessions;
    api: ApiHandler;
    ledger: LedgerWriter;
    models: ModelApi;
    checks: NodeChecks;
    control: ControlListener;
    public: PublicListenerHandle | undefined;
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
    this.#control = parts.control;
    this.#public = parts.public;
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
    const registry = await openRegistry({ ...options.registry, dataDir: config.dataDir, logger });
    const started: { destroy(): Promise<unknown> }[] = [registry];
    // Set before any request can be routed: nodes can log in only once the control port opens, last.
    let server: ProximaServer | undefined;
    let checks: NodeChecks | undefined;
    try {
      const { now } = options;
      const ledger = await LedgerWriter.open({
        ...config.ledger,
        dataDir: config.dataDir,
        now,
        logger: logger.child({ component: 'ledger' }),
      });
      started.unshift(ledger);
      if (config.ledger.flushIntervalMs !== undefined)
        logger.warn('ledger.flushIntervalMs has no effect: a batch is written as soon as the disk is free');
      const nodes = await NodeSessions.open({ registry, openStream: options.openStream, logger });
      started.unshift(nodes);
      const rewards = createRewardsApi({
        dataDir: config.dataDir,
        rules: config.rewards,
        registry,
        adminToken: config.admin.token,
        now,
        logger,
      });
      const models = await ModelApi.open({
        nodes,
        memory: registry,
        config,
        now,
        random: options.random,
        logger: logger.child({ component: 'api' }),
        usage: (record) =>
          ledger.append(record).then(
            () => {
              server?.emit('usage', record);
              checks?.consider(record);
            },
            (err: unknown) => {
              logger.error('ledger append failed', { err, requestId: record.id });
              throw err;
            },
          ),
      });
      started.unshift(models);
      checks = new NodeChecks({
        api: models,
        rules: config.rewards,
        append: (record) => ledger.append(record),
        now,
        random: options.checksRandom,
        logger,
        onProbe: (probe) => server?.emit('probe', probe),
        onCanary: (outcome) => server?.emit('canary', outcome),
      });
      started.unshift(checks);
      // Rewards first: /nodes/NAME/usage lies under /nodes, which a closed registration refuses whole.
      const parts = [rewards, nodesPart(config, registry, logger), models.handle];
      const api = createApiRouter({ parts, trustProxy: config.http.trustProxy, logger });
      const listener = await options.publicListener?.({ config, directory: nodes, api, ledger, logger });
      if (listener !== undefined) started.unshift(listener);
      const httpPort = listener?.address().port ?? config.http.listen.port;
      const control = await ControlListener.listen({
        ...config.control.listen,
        tls: config.control.tls,
        handshakeTimeoutMs: config.control.handshakeTimeoutMs,
        heartbeatIntervalMs: config.control.heartbeatIntervalMs,
        heartbeatTimeoutMs: config.control.heartbeatTimeoutMs,
        closeTimeoutMs: config.http.drainTimeoutMs,
        maxHandshakes: options.maxHandshakes,
        registry,
        publicUrl: (name) => publicUrl(name, config.domain, httpPort),
        onSession: (name, session) => nodes.attach(name, session),
        logger,
      });
      server = new ProximaServer({ config, registry, nodes, api, ledger, models, checks, control, public: listener, logger });
      return server;
    } catch (err) {
      for (const part of started) await part.destroy();
      throw err;
    }
  }

  /** The directory of live nodes, for the data plane. */
  get directory(): NodeDirectory {
    return this.nodes;
  }

  /** Where the control port listens (the real port when 0 was configured). */
  controlAddress(): BoundAddress {
    return this.#control.address();
  }

  /** Where the public HTTP listener listens, when there is one. */
  httpAddress(): BoundAddress | undefined {
    return this.#public?.address();
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
      await Promise.all([this.#control.close(), this.#public?.close(), this.models.close(), this.nodes.close()]);
      await this.ledger.close();
      await this.registry.close();
      await this.#control.closed;
    })();
    return this.#closing;
  }

  /** Stops at once: every connection and stream is cut. Idempotent. */
  destroy(err?: Error): Promise<void> {
    this.#destroying ??= (async () => {
      await this.checks.destroy();
      await Promise.all([this.#control.destroy(), this.#public?.destroy(err), this.models.destroy(), this.nodes.destroy(err)]);
      await this.ledger.destroy(err);
      await this.registry.destroy(err);
      await this.#control.closed;
    })();
    return this.#destroying;
  }
}

/** `http://<name>.<domain>[:port]`; port 80 is left out. */
export function publicUrl(name: string, domain: string, port: number): string {
  return `http://${name}.${domain}${port === 80 ? '' : `:${port}`}`;
}

/** `/nodes`: open registration, or admin-only, or off when admin mode has no admin token. */
function nodesPart(config: ServerConfig, registry: Registry, logger: Logger): ApiPart {
  const { mode, openRatePerMinute } = config.registration;
  const adminToken = config.admin.token;
  if (mode === 'admin' && adminToken === undefined) {
    const off = new ProximaError(
      ErrorCodes.FORBIDDEN,
      'registration over HTTP is off: the super node has no admin.token (add nodes with "proxima-server nodes add")',
    );
    return refusingPart('/nodes', off, logger);
  }
  return createNodesApi({ registry, mode, adminToken, openRatePerMinute, logger });
}
