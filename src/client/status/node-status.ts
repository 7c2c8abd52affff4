/**
 * What the node's status page and `proxima-client status` show: connected or not and since when,
 * the super node, each service and its URLs, the models shared, requests served and in flight, the
 * recent errors (a bounded ring) and this epoch's earnings. Fed by the client's events, the
 * forwarder's activity and model discovery; read as one JSON snapshot.
 */
import type { ModelAdvert, WelcomeMessage } from '../../proto/control/messages.js';
import { PACKAGE_VERSION } from '../../version.js';
import type { ProximaClient } from '../client.js';
import type { ServiceConfig } from '../config.js';
import type { ForwardActivity } from '../forwarder.js';
import { EarningsReader, type EarningsState } from './earnings.js';
import { type ServiceUrls, serviceUrls } from './service-urls.js';

/** Counts of one service: requests (ollama) or connections (http). */
export interface ServiceCounts {
  served: number;
  failed: number;
  inFlight: number;
}

/** The JSON of GET /api/status. */
export interface StatusSnapshot {
  node: string;
  version: string;
  server: string;
  tls: boolean;
  connected: boolean;
  /** When the node last went online or offline (ISO time). */
  since: string;
  publicUrl?: string;
  apiUrl?: string;
  services: (ServiceUrls & ServiceCounts & { models: string[] })[];
  totals: ServiceCounts;
  errors: { at: string; message: string }[];
  earnings: EarningsState;
}

/** How many recent errors are kept. */
export const MAX_RECENT_ERRORS = 50;

/** The node's state, as it changes. */
export class NodeStatus implements ForwardActivity {
  readonly #name: string;
  readonly #server: string;
  readonly #tls: boolean;
  readonly #services: readonly ServiceConfig[];
  readonly #counts = new Map<string, ServiceCounts>();
  readonly #errors: { at: string; message: string }[] = [];
  readonly #earnings: EarningsReader;
  #models: ReadonlyMap<string, readonly ModelAdvert[]> = new Map();
  #welcome: WelcomeMessage | undefined;
  #connected = false;
  #since = new Date().toISOString();

  constructor(options: {
    name: string;
    token: string;
    server: { host: string; port: number };
    tls: boolean;
    services: readonly ServiceConfig[];
    earningsRefreshMs?: number;
  }) {
    this.#name = options.name;
    this.#server = `${options.server.host}:${options.server.port}`;
    this.#tls = options.tls;
    this.#services = options.services;
    for (const s of options.services) this.#counts.set(s.name, { served: 0, failed: 0, inFlight: 0 });
    this.#earnings = new EarningsReader({ name: options.name, token: options.token, refreshMs: options.earningsRefreshMs });
  }

  /** Follows `client`: online, offline and retries (their errors go to the ring). */
  watch(client: ProximaClient): void {
    client.on('online', (welcome) => {
      this.#welcome = welcome;
      this.#earnings.apiUrl = welcome.apiUrl;
      this.#connected = true;
      this.#since = new Date().toISOString();
    });
    client.on('offline', (err) => {
      this.#connected = false;
      this.#since = new Date().toISOString();
      this.error(err === undefined ? 'the super node closed the connection' : `disconnected: ${err.message}`);
    });
    client.on('retry', ({ err, delayMs }) => {
      if (err !== undefined) this.error(`not connected: ${err.message} (trying again in ${delayMs} ms)`);
    });
  }

  /** The models each ollama service shares now (from model discovery). */
  set models(models: ReadonlyMap<string, readonly ModelAdvert[]>) {
    this.#models = models;
  }

  /** Adds to the ring of recent errors, the oldest dropped past {@link MAX_RECENT_ERRORS}. */
  error(message: string): void {
    this.#errors.push({ at: new Date().toISOString(), message: message.slice(0, 500) });
    if (this.#errors.length > MAX_RECENT_ERRORS) this.#errors.shift();
  }

  begin(service: string): (outcome: { failed: boolean; problem?: string }) => void {
    const counts = this.#counts.get(service);
    if (counts === undefined) return () => undefined;
    counts.inFlight++;
    let done = false;
    return ({ failed, problem }) => {
      if (done) return;
      done = true;
      counts.inFlight--;
      counts.served++;
      if (failed) counts.failed++;
      if (problem !== undefined) this.error(problem);
    };
  }

  async snapshot(): Promise<StatusSnapshot> {
    const welcome = this.#welcome;
    const urls = welcome === undefined ? undefined : serviceUrls(welcome, this.#services);
    const totals: ServiceCounts = { served: 0, failed: 0, inFlight: 0 };
    const services = this.#services.map((s, i) => {
      const counts = this.#counts.get(s.name)!;
      totals.served += counts.served;
      totals.failed += counts.failed;
      totals.inFlight += counts.inFlight;
      const where = urls?.[i] ?? { name: s.name, kind: s.kind, expose: s.expose, urls: [], note: 'not connected yet' };
      return { ...where, ...counts, models: (this.#models.get(s.name) ?? []).map((m) => m.name) };
    });
    return {
      node: this.#name,
      version: PACKAGE_VERSION,
      server: this.#server,
      tls: this.#tls,
      connected: this.#connected,
      since: this.#since,
      ...(welcome === undefined ? {} : { publicUrl: welcome.publicUrl }),
      ...(welcome?.apiUrl === undefined ? {} : { apiUrl: welcome.apiUrl }),
      services,
      totals,
      errors: [...this.#errors].reverse(),
      earnings: await this.#earnings.get(),
    };
  }
}
