/**
 * proxima-client's engine: keeps one control connection to the super node up, reconnecting after
 * any failure with backoff (reconnect.ts), until it is closed or the super node refuses it for
 * good (a bad token, another protocol version).
 */
import { EventEmitter } from 'node:events';
import { ErrorCodes, ProximaError } from '../errors.js';
import { type Logger, silentLogger } from '../log.js';
import type { ModelAdvert, ServiceAdvert, WelcomeMessage } from '../proto/control/messages.js';
import type { ServiceConfig } from './config.js';
import { ControlConnection, type ControlConnectionOptions } from './control-connection.js';
import { fitAdvertise } from './ollama/model-adverts.js';
import { askedWaitMs, Backoff, isFatal, type Pause, pause, type ReconnectClock, systemClock } from './reconnect.js';
import { type LookupAll, type ServerEntry, ServerList } from './server-list.js';

/** How the client connects and reconnects. */
export interface ProximaClientOptions extends Omit<ControlConnectionOptions, 'timeoutMs' | 'signal' | 'logger'> {
  reconnect: { initialDelayMs: number; maxDelayMs: number };
  /** The handshake, dial included. */
  handshakeTimeoutMs?: number;
  /** A session that lived this long resets the backoff; by default any session that logged in does. */
  stableAfterMs?: number;
  /** Every super node to try, in turn (each name's addresses one by one); default: just `server`. */
  servers?: readonly ServerEntry[];
  /** Resolves a name in `servers` to its addresses; tests pass their own. */
  lookup?: LookupAll;
  /** Tests pass their own clock, random numbers and timers. */
  clock?: Partial<ReconnectClock>;
  logger?: Logger;
}

/** What happens to the client, as it happens. */
export interface ProximaClientEvents {
  /** Logged in; the super node serves this node at `welcome.publicUrl`. */
  online: [welcome: WelcomeMessage];
  /** The connection ended; `err` says why (undefined for a clean close by the super node). */
  offline: [err: Error | undefined];
  /** The next attempt comes after `delayMs`; `attempt` counts failures since the last stable session. */
  retry: [info: { attempt: number; delayMs: number; err: Error | undefined }];
}

export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
export const DEFAULT_STABLE_AFTER_MS = 0;

/** A running node. Start it with {@link ProximaClient.start}. */
export class ProximaClient extends EventEmitter<ProximaClientEvents> {
  /** Resolves once the client has stopped: undefined after close() or destroy(), else the fatal error. */
  readonly done: Promise<ProximaError | undefined>;
  readonly #options: ProximaClientOptions;
  readonly #clock: ReconnectClock;
  readonly #logger: Logger;
  readonly #servers: ServerList;
  /** The server of the latest try, for the log. */
  #server = '';
  #connection: ControlConnection | undefined;
  /** What the node advertises now: the options' services until {@link advertise} replaces them. */
  #services: readonly ServiceAdvert[];
  #attempt: AbortController | undefined;
  #pause: Pause | undefined;
  #stopped = false;

  private constructor(options: ProximaClientOptions) {
    super();
    this.#options = options;
    this.#clock = { ...systemClock, ...options.clock };
    this.#logger = (options.logger ?? silentLogger).child({ node: options.name });
    this.#services = this.#fit(options.services);
    this.#servers = new ServerList(options.servers ?? [options.server], options.lookup);
    this.done = this.#run();
  }

  /** Starts connecting. Failures are retried; see {@link done} for how it ends. */
  static start(options: ProximaClientOptions): ProximaClient {
    return new ProximaClient(options);
  }

  /** The live connection, if online now. */
  get connection(): ControlConnection | undefined {
    return this.#connection;
  }

  /** Advertises `services` (with their models) now if online, and on every later connection. */
  advertise(services: readonly ServiceAdvert[]): void {
    this.#services = this.#fit(services);
    this.#connection?.advertise(this.#services);
  }

  /** `services` trimmed to fit one control message, which would otherwise fail to encode. */
  #fit(services: readonly ServiceAdvert[]): readonly ServiceAdvert[] {
    const fitted = fitAdvertise(services);
    if (fitted.dropped > 0)
      this.#logger.warn('too many models for one advertisement: some are not advertised', { dropped: fitted.dropped });
    return fitted.services;
  }

  /** Drains: the super node is told, streams in flight finish (bounded), then the connection closes. Idempotent. */
  async close(): Promise<void> {
    this.#stop();
    await this.#connection?.close();
    await this.done;
  }

  /** Stops at once, cutting the connection and its streams. Idempotent. */
  async destroy(err?: Error): Promise<void> {
    this.#stop();
    await this.#connection?.destroy(err);
    await this.done;
  }

  #stop(): void {
    this.#stopped = true;
    this.#attempt?.abort();
    this.#pause?.cutShort();
  }

  async #run(): Promise<ProximaError | undefined> {
    const backoff = new Backoff({ ...this.#options.reconnect, random: this.#clock.random });
    const stableAfterMs = this.#options.stableAfterMs ?? DEFAULT_STABLE_AFTER_MS;
    while (!this.#stopped) {
      let why: Error | undefined;
      try {
        const advertised = this.#services;
        const connection = await this.#connect(advertised);
        const since = this.#clock.now();
        this.#connection = connection;
        if (this.#services !== advertised) connection.advertise(this.#services); // changed during the handshake
        const { publicUrl } = connection.welcome;
        this.#logger.info(`online at ${publicUrl}`, { publicUrl, server: this.#server });
        this.emit('online', connection.welcome);
        if (this.#stopped) await connection.close(); // close() came while the handshake finished
        why = await connection.closed;
        this.#connection = undefined;
        if (this.#clock.now() - since >= stableAfterMs) backoff.reset();
        if (!this.#stopped) this.emit('offline', why);
      } catch (err) {
        why = err as Error;
      }
      if (this.#stopped) break;
      if (isFatal(why)) return this.#refused(why);
      // A super node that throttles this address says how long to wait: never sooner than that.
      const delayMs = Math.max(backoff.next(), askedWaitMs(why));
      // A TLS mismatch never heals by itself: the line says what to change.
      const hint = why instanceof ProximaError && why.code === ErrorCodes.TLS_MISMATCH ? `: ${why.message}` : '';
      this.#logger.warn(`not connected${hint}; trying again in ${delayMs} ms`, { err: why, attempt: backoff.attempt });
      this.emit('retry', { attempt: backoff.attempt, delayMs, err: why });
      this.#pause = pause(this.#clock, delayMs);
      await this.#pause.done;
    }
    return undefined;
  }

  /** Logs in at the next server of the list: after a failure or a lost session, the next one is tried. */
  async #connect(services: readonly ServiceAdvert[]): Promise<ControlConnection> {
    this.#attempt = new AbortController();
    const { handshakeTimeoutMs, servers: _, lookup: __, ...options } = this.#options;
    const server = await this.#servers.next();
    this.#server = server.address === undefined ? `${server.host}:${server.port}` : `${server.host}:${server.port} (${server.address})`;
    return ControlConnection.open({
      ...options,
      server,
      services,
      timeoutMs: handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
      signal: this.#attempt.signal,
      logger: this.#logger,
    });
  }

  /** The error to stop with, saying what the operator can do about it. */
  #refused(err: ProximaError): ProximaError {
    const hint =
      err.code === ErrorCodes.AUTH_FAILED
        ? `the super node refused node "${this.#options.name}" (${err.message}): check name and token; a revoked node or a rotated token is refused`
        : err.message;
    this.#logger.error('stopped: the super node refuses this node', { code: err.code, message: hint });
    return new ProximaError(err.code, hint, { cause: err });
  }
}

/** What a node advertises for its configured services: with `models` (from model discovery), each ollama service carries its shared models. */
export function advertisedServices(
  services: readonly ServiceConfig[],
  models?: ReadonlyMap<string, readonly ModelAdvert[]>,
): ServiceAdvert[] {
  return services.map((s) => {
    const advert: ServiceAdvert = { name: s.name, kind: s.kind, expose: s.expose };
    if (s.auth !== undefined) advert.auth = s.auth;
    if (s.hostHeader !== undefined) advert.hostHeader = s.hostHeader;
    if (s.kind === 'ollama') {
      if (models !== undefined) advert.models = [...(models.get(s.name) ?? [])];
      advert.maxConcurrent = s.maxConcurrent;
    }
    return advert;
  });
}
