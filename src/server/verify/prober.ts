/**
 * The availability prober: every `probeIntervalMs` (jittered, so nodes are not probed in lockstep)
 * each online node that shares models is asked `GET /api/tags` through its tunnel, on each of its
 * ollama services, and one `probe` record says whether it answered in time and still lists every
 * model it advertises (same name, same digest). A probe takes no router slot and writes no request
 * record: it is not user traffic. A node's first probe comes 0.5 to 1.5 intervals after it appears.
 */
import type { Dispatcher } from '../../http/dispatcher.js';
import type { Logger } from '../../log.js';
import { modelKey } from '../../proto/llm/model-name.js';
import type { ProbeRecord } from '../ledger/ledger-record.js';
import type { ModelHost } from '../models/routing/model-catalog.js';
import { askNode } from './node-answer.js';

/** What the prober reads of the catalog: the online hosts of every model, and word when they change. */
export interface ProbedCatalog {
  online(): { key: string; hosts: ModelHost[] }[];
  on(event: 'change', listener: () => void): unknown;
  off(event: 'change', listener: () => void): unknown;
}

/** How the prober runs. */
export interface ProberOptions {
  catalog: ProbedCatalog;
  pools: { pool(host: ModelHost): Dispatcher };
  /** Hears each service whose probe failed (its breaker counts it). */
  onServiceFailed?(node: string, service: string): void;
  /** Gets every probe record (the server appends it to the ledger). Must not throw. */
  record: (probe: ProbeRecord) => void;
  intervalMs: number;
  timeoutMs: number;
  logger: Logger;
  /** Wall clock, ms since 1970: the records' time. */
  now?: () => number;
  /** Jitter; Math.random unless a test injects its own. */
  random?: () => number;
}

/** Largest /api/tags answer read (about 20,000 models). */
export const MAX_TAGS_BYTES = 8 * 1024 * 1024;

interface Scheduled {
  timer: NodeJS.Timeout | undefined;
  running: Promise<void> | undefined;
}

/** Probes nodes until closed. Start it with `new Prober(options)`. */
export class Prober {
  readonly #o: ProberOptions;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #nodes = new Map<string, Scheduled>();
  readonly #stop = new AbortController();
  /** The last verdict per node, for choosing reference nodes. */
  readonly #lastOk = new Map<string, boolean>();
  readonly #sync = (): void => this.#schedule();

  constructor(options: ProberOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    options.catalog.on('change', this.#sync);
    this.#schedule();
  }

  /** True when the node's last probe failed (false before its first). */
  failing(node: string): boolean {
    return this.#lastOk.get(node) === false;
  }

  /** Stops: no probe starts, those running are cut (and not recorded), every timer is cleared. Idempotent. */
  async close(): Promise<void> {
    if (!this.#stop.signal.aborted) {
      this.#stop.abort();
      this.#o.catalog.off('change', this.#sync);
    }
    for (const s of this.#nodes.values()) clearTimeout(s.timer);
    await Promise.all([...this.#nodes.values()].map((s) => s.running));
    this.#nodes.clear();
  }

  /** The same as close: a probe holds nothing worth waiting for. */
  destroy(): Promise<void> {
    return this.close();
  }

  /** Gives every online node sharing models a timer, if it has none. */
  #schedule(): void {
    if (this.#stop.signal.aborted) return;
    for (const node of this.#targets().keys()) {
      if (!this.#nodes.has(node)) this.#later(node, this.#o.intervalMs * (0.5 + this.#random()));
    }
  }

  #later(node: string, delayMs: number): void {
    const s: Scheduled = this.#nodes.get(node) ?? { timer: undefined, running: undefined };
    s.timer = setTimeout(() => {
      s.timer = undefined;
      s.running = this.#probe(node).finally(() => (s.running = undefined));
    }, delayMs);
    s.timer.unref();
    this.#nodes.set(node, s);
  }

  async #probe(node: string): Promise<void> {
    const hosts = this.#targets().get(node);
    if (hosts === undefined) {
      // The node left or shares nothing now; it gets a new first probe if it comes back.
      this.#nodes.delete(node);
      this.#lastOk.delete(node);
      return;
    }
    const time = new Date(this.#now()).toISOString();
    const results = await Promise.all([...hosts.values()].map((services) => this.#probeService(services)));
    if (this.#stop.signal.aborted) return;
    [...hosts.keys()].forEach((service, i) => {
      if (!results[i]!.ok) this.#o.onServiceFailed?.(node, service);
    });
    const ok = results.every((r) => r.ok);
    const latencies = results.map((r) => r.latencyMs);
    const latencyMs = latencies.some((l) => l === null) ? null : Math.round(Math.max(...(latencies as number[])) * 1000) / 1000;
    const models = [...hosts.values()].flatMap((h) => h.map((host) => host.model.name)).slice(0, 1000);
    this.#lastOk.set(node, ok);
    this.#o.record({ type: 'probe', node, time, ok, latencyMs, models });
    this.#later(node, this.#o.intervalMs * (0.8 + 0.4 * this.#random()));
  }

  /** One service of a node: its tags must list every model advertised on it. */
  async #probeService(hosts: ModelHost[]): Promise<{ ok: boolean; latencyMs: number | null }> {
    const host = hosts[0]!;
    try {
      const answer = await askNode(this.#o.pools.pool(host), {
        method: 'GET',
        path: '/api/tags',
        timeoutMs: this.#o.timeoutMs,
        maxBytes: MAX_TAGS_BYTES,
        signal: this.#stop.signal,
      });
      const listed = answer.status === 200 ? listedModels(answer.body) : new Map<string, string | undefined>();
      const missing = hosts.filter((h) => !listed.has(h.key) || listed.get(h.key) !== h.model.digest);
      if (missing.length > 0)
        this.#o.logger.debug('a probe found models missing', {
          node: host.node.name,
          status: answer.status,
          missing: missing.map((h) => h.key),
        });
      return { ok: missing.length === 0, latencyMs: answer.latencyMs };
    } catch (err) {
      if (!this.#stop.signal.aborted) this.#o.logger.debug('a probe failed', { node: host.node.name, err });
      return { ok: false, latencyMs: null };
    }
  }

  /** Online nodes sharing models: node → service → its hosts. A node another instance holds is that instance's to probe. */
  #targets(): Map<string, Map<string, ModelHost[]>> {
    const out = new Map<string, Map<string, ModelHost[]>>();
    for (const { hosts } of this.#o.catalog.online()) {
      for (const host of hosts) {
        if (host.node.remote === true) continue;
        let services = out.get(host.node.name);
        if (services === undefined) out.set(host.node.name, (services = new Map()));
        const list = services.get(host.service);
        if (list === undefined) services.set(host.service, [host]);
        else list.push(host);
      }
    }
    return out;
  }
}

/** `/api/tags` as model key → digest; empty when it does not parse. */
function listedModels(body: Buffer): Map<string, string | undefined> {
  const out = new Map<string, string | undefined>();
  try {
    const json = JSON.parse(body.toString('utf8')) as { models?: unknown };
    if (!Array.isArray(json.models)) return out;
    for (const m of json.models as { name?: unknown; model?: unknown; digest?: unknown }[]) {
      const key = modelKey(m?.name ?? m?.model);
      if (key !== undefined) out.set(key, typeof m.digest === 'string' ? m.digest : undefined);
    }
  } catch {
    // not JSON: nothing is listed
  }
  return out;
}
