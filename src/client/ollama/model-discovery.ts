/**
 * Which models each ollama service of the node shares: read from the local Ollama's `/api/tags` at
 * start and every `refreshIntervalMs`, so that the node advertises them on connect and again
 * whenever the list changes. An Ollama that stops answering keeps its last list advertised: its models
 * are down, not gone, and the super node routes around it (its probes and requests fail) and answers
 * 503 rather than 404. One that has never answered since the start shares nothing. An outage is
 * logged once, not once per poll.
 */
import { EventEmitter } from 'node:events';
import type { HostPort } from '../../config/values.js';
import { ErrorCodes, ProximaError } from '../../errors.js';
import { type Logger, silentLogger } from '../../log.js';
import type { ModelAdvert } from '../../proto/control/messages.js';
import { modelAdverts } from './model-adverts.js';
import { type ModelShare, type ShareFilter, shareFilter } from './model-share.js';
import { OllamaCall } from './ollama-call.js';
import { OllamaPool } from './ollama-pool.js';

/** An ollama service as discovery needs it (an OllamaServiceConfig fits). */
export interface DiscoveredService {
  name: string;
  local: HostPort;
  hostHeader: string;
  share: ModelShare;
}

/** The shared models of each ollama service, by service name. */
export type ServiceModels = ReadonlyMap<string, readonly ModelAdvert[]>;

/** Options of {@link ModelDiscovery.start}. */
export interface ModelDiscoveryOptions {
  /** The ollama services to read; other kinds have no models. */
  services: readonly DiscoveredService[];
  /** How often the lists are read again. */
  refreshIntervalMs: number;
  /** One read of /api/tags, connection included, may take this long. */
  requestTimeoutMs?: number;
  /** Largest /api/tags answer read. */
  maxTagsBytes?: number;
  logger?: Logger;
}

export interface ModelDiscoveryEvents {
  /** The shared models of some service changed: advertise again. */
  change: [models: ServiceModels];
}

export const DEFAULT_TAGS_TIMEOUT_MS = 10_000;
/** About 20,000 models' worth of /api/tags. */
export const DEFAULT_MAX_TAGS_BYTES = 8 * 1024 * 1024;

/** One service being watched. */
interface Source {
  service: DiscoveredService;
  upstream: OllamaPool;
  /** The request for its model list, the same each time. */
  request: Buffer;
  isShared: ShareFilter;
  /** Whether the last read worked; undefined before the first. */
  answering: boolean | undefined;
}

/** Watches the models of the node's ollama services. Start it with {@link ModelDiscovery.start}. */
export class ModelDiscovery extends EventEmitter<ModelDiscoveryEvents> {
  readonly #sources: Source[];
  readonly #refreshIntervalMs: number;
  readonly #requestTimeoutMs: number;
  readonly #maxTagsBytes: number;
  readonly #logger: Logger;
  readonly #stopping = new AbortController();
  #models: ServiceModels;
  #running: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(options: ModelDiscoveryOptions) {
    super();
    this.#sources = options.services.map((service) => ({
      service,
      // A connection per read, closed after it: a kept one Ollama closed meanwhile (it restarted)
      // would fail the next read.
      upstream: new OllamaPool(service, { maxIdleSockets: 0 }),
      request: Buffer.from(
        `GET /api/tags HTTP/1.1\r\nHost: ${service.hostHeader}\r\nAccept: application/json\r\nConnection: close\r\n\r\n`,
        'latin1',
      ),
      isShared: shareFilter(service.share),
      answering: undefined,
    }));
    this.#refreshIntervalMs = options.refreshIntervalMs;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_TAGS_TIMEOUT_MS;
    this.#maxTagsBytes = options.maxTagsBytes ?? DEFAULT_MAX_TAGS_BYTES;
    this.#logger = (options.logger ?? silentLogger).child({ component: 'models' });
    this.#models = new Map(options.services.map((s) => [s.name, []]));
  }

  /** Reads every service's models once (each read bounded by requestTimeoutMs), then keeps polling. */
  static async start(options: ModelDiscoveryOptions): Promise<ModelDiscovery> {
    const discovery = new ModelDiscovery(options);
    await discovery.refresh();
    discovery.#schedule();
    return discovery;
  }

  /** The shared models of each ollama service, as last read. */
  get models(): ServiceModels {
    return this.#models;
  }

  /** Reads the lists now (joining a read under way); emits `change` if they changed. */
  refresh(): Promise<void> {
    this.#running ??= this.#poll().finally(() => (this.#running = undefined));
    return this.#running;
  }

  /** Stops polling; a read under way finishes first (bounded). Idempotent. */
  async close(): Promise<void> {
    this.#stop();
    await this.#running;
    await Promise.all(this.#sources.map((s) => s.upstream.close()));
  }

  /** Stops polling and cuts a read under way. Idempotent. */
  async destroy(): Promise<void> {
    this.#stop();
    this.#stopping.abort();
    await this.#running;
    await Promise.all(this.#sources.map((s) => s.upstream.destroy()));
  }

  #stop(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }

  #schedule(): void {
    if (this.#closed || this.#sources.length === 0) return;
    // A timer per round, not an interval: a slow Ollama never has two reads in flight.
    this.#timer = setTimeout(() => void this.refresh().then(() => this.#schedule()), this.#refreshIntervalMs);
    this.#timer.unref();
  }

  async #poll(): Promise<void> {
    const lists = await Promise.all(this.#sources.map((s) => this.#read(s)));
    if (this.#closed) return;
    const next = new Map(this.#sources.map((s, i) => [s.service.name, lists[i]!]));
    let changed = false;
    for (const [name, models] of next) {
      if (JSON.stringify(models) === JSON.stringify(this.#models.get(name))) continue;
      changed = true;
      this.#logger.info('shared models changed', { service: name, models: models.map((m) => m.name) });
    }
    if (!changed) return;
    this.#models = next;
    this.emit('change', next);
  }

  /** The shared models of one service; none when its Ollama does not answer properly. */
  async #read(source: Source): Promise<ModelAdvert[]> {
    const log = this.#logger.child({ service: source.service.name, ollama: source.upstream.origin });
    // A controller and a timer of its own, not AbortSignal.any with AbortSignal.timeout: that
    // timeout signal is held weakly, and a read under a loaded test run once waited past it.
    const cut = new AbortController();
    const ms = this.#requestTimeoutMs;
    const timer = setTimeout(() => cut.abort(new DOMException(`no answer within ${ms} ms`, 'TimeoutError')), ms);
    const stop = (): void => cut.abort(this.#stopping.signal.reason);
    this.#stopping.signal.addEventListener('abort', stop, { once: true });
    if (this.#stopping.signal.aborted) stop();
    try {
      const call = await OllamaCall.start(source.upstream, 'GET', source.request, cut.signal);
      if (call.head.status !== 200) {
        call.destroy();
        throw new ProximaError(ErrorCodes.HTTP_BAD_RESPONSE, `/api/tags answered HTTP ${call.head.status}`);
      }
      const models = modelAdverts(JSON.parse((await call.readWhole(this.#maxTagsBytes)).toString('utf8')), source.isShared);
      if (source.answering === false) log.info('ollama answers again');
      source.answering = true;
      return models;
    } catch (err) {
      const last = this.#models.get(source.service.name) ?? [];
      if (this.#closed) return [...last];
      if (source.answering !== false)
        log.warn('cannot read the models of ollama: the last ones read stay advertised until it answers', { err, models: last.length });
      source.answering = false;
      return [...last];
    } finally {
      clearTimeout(timer);
      this.#stopping.signal.removeEventListener('abort', stop);
    }
  }
}
