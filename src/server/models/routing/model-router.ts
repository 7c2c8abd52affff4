/**
 * Picks the node for each request: among the online hosts of the model, the one with the fewest
 * requests in flight, never one at its `maxConcurrent`, ties broken at random. When every host is
 * busy the request waits in one bounded FIFO queue (over all models) for a slot; a slot that frees
 * goes to the oldest waiter that can use it, so no waiter starves behind newcomers. A waiter that
 * gives up (its user left) leaves the queue; one that waits too long gets PRX_ERR_NODES_BUSY.
 */
import { EventEmitter } from 'node:events';
import type { CancelSignal } from '../../../cancel.js';
import { ErrorCodes, ProximaError } from '../../../errors.js';
import { displayName } from '../../../proto/llm/model-name.js';
import type { ModelHost, ModelLookup } from './model-catalog.js';
import type { RouteHealth } from './route-health.js';

/** A slot on a host, held while a request runs there. */
export interface Lease {
  readonly host: ModelHost;
  /** Gives the slot back; idempotent. */
  release(): void;
}

/** What to ask of {@link ModelRouter.acquire}. */
export interface AcquireOptions {
  /** Aborting it takes the request out of the queue; the promise rejects with the signal's reason. */
  signal?: CancelSignal;
  /** Node names not to use (they failed this request already). */
  exclude?: ReadonlySet<string>;
  /** Metadata requests (`/api/show`) take no slot: they go to the least busy host at once. */
  ignoreCapacity?: boolean;
  /** False: when no host has room, reject with PRX_ERR_NODES_BUSY at once instead of queueing (canaries). */
  wait?: boolean;
  /** A host to take over the least busy when it has room (prompt-cache affinity, affinity.ts). */
  prefer?: (host: ModelHost) => boolean;
}

/** What the router needs of the catalog: where a model is, and word when that changes. */
export interface RouterCatalog {
  lookup(key: string): ModelLookup;
  on(event: 'change', listener: () => void): unknown;
  off(event: 'change', listener: () => void): unknown;
}

/** How the router queues. */
export interface ModelRouterOptions {
  catalog: RouterCatalog;
  /** Requests that may wait at once; 0: none wait. */
  maxQueued: number;
  maxQueueWaitMs: number;
  /** Breaks ties; Math.random unless a test injects its own. */
  random?: () => number;
  /** Breakers and flags: hosts it refuses are passed over (route-health.ts). */
  health?: Pick<RouteHealth, 'admits' | 'leased' | 'released'>;
  /** Hears how long each request that waited in the queue waited, granted a node or not (metrics). */
  onQueueWait?: (ms: number) => void;
}

interface Waiter {
  key: string;
  options: AcquireOptions;
  /** The hosts it may take: the model's online hosts, or the one host of a forwarded request. */
  hosts(): ModelHost[];
  grant(host: ModelHost): void;
  fail(err: unknown): void;
}

/**
 * The router. `close()` refuses new requests and fails the waiting ones with PRX_ERR_SERVER_DRAINING.
 * Emits `queued` (the model's key) when a request starts to wait, for metrics and tests.
 */
export class ModelRouter extends EventEmitter<{ queued: [key: string] }> {
  readonly #options: ModelRouterOptions;
  readonly #random: () => number;
  /** Requests in flight per `node\0service`. */
  readonly #inFlight = new Map<string, number>();
  readonly #queue: Waiter[] = [];
  #closed = false;
  readonly #pump = (): void => this.#grantWaiters();

  constructor(options: ModelRouterOptions) {
    super();
    this.#options = options;
    this.#random = options.random ?? Math.random;
    options.catalog.on('change', this.#pump);
  }

  /** Requests in flight on one node's service. */
  inFlight(node: string, service: string): number {
    return this.#inFlight.get(slotKey(node, service)) ?? 0;
  }

  /** Requests waiting for a slot. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Requests for the model `key` waiting for a slot (the dashboard's queue column). */
  queuedFor(key: string): number {
    let n = 0;
    for (const waiter of this.#queue) if (waiter.key === key) n++;
    return n;
  }

  /** True when an online host of `key` is on a node not in `exclude` (busy or not). */
  hasOther(key: string, exclude: ReadonlySet<string>): boolean {
    const found = this.#options.catalog.lookup(key);
    return found.status === 'online' && found.hosts.some((h) => !exclude.has(h.node.name));
  }

  /**
   * A slot for the model `key` (normalised): at once when a host has room, else after waiting.
   * Rejects with PRX_ERR_MODEL_NOT_FOUND (nobody shares it), PRX_ERR_MODEL_UNAVAILABLE (only offline or
   * excluded nodes do), PRX_ERR_NODES_BUSY (queue full or wait over), PRX_ERR_SERVER_DRAINING.
   */
  acquire(key: string, options: AcquireOptions = {}): Promise<Lease> {
    if (this.#closed) return Promise.reject(draining());
    const found = this.#options.catalog.lookup(key);
    if (found.status === 'unknown')
      return Promise.reject(new ProximaError(ErrorCodes.MODEL_NOT_FOUND, `no node shares the model ${displayName(key)}`));
    const online = found.status === 'online' ? found.hosts.filter((h) => !options.exclude?.has(h.node.name)) : [];
    if (online.length === 0)
      return Promise.reject(new ProximaError(ErrorCodes.MODEL_UNAVAILABLE, `every node sharing ${displayName(key)} is offline`));
    const hosts = this.#healthy(online);
    if (hosts.length === 0)
      return Promise.reject(new ProximaError(ErrorCodes.MODEL_UNAVAILABLE, `every node sharing ${displayName(key)} is failing or flagged`));
    const host = this.#pick(hosts, options.ignoreCapacity === true, options.prefer);
    if (host !== undefined) return Promise.resolve(this.#lease(host));
    const { maxQueued, maxQueueWaitMs } = this.#options;
    if (options.wait === false) return Promise.reject(busy(key, 'no host has a free slot'));
    if (this.#queue.length >= maxQueued || maxQueueWaitMs === 0) return Promise.reject(busy(key, 'the wait queue is full'));
    return this.#wait(key, options);
  }

  /**
   * A slot on one host (a request another instance of a cluster routed to a node held here): at
   * once when it has room, else after waiting in the queue like any request, so the node's
   * maxConcurrent holds across instances. Rejects like {@link acquire}.
   */
  acquireOn(host: ModelHost, options: Pick<AcquireOptions, 'signal'> = {}): Promise<Lease> {
    if (this.#closed) return Promise.reject(draining());
    if (this.inFlight(host.node.name, host.service) < host.maxConcurrent) return Promise.resolve(this.#lease(host));
    const { maxQueued, maxQueueWaitMs } = this.#options;
    if (this.#queue.length >= maxQueued || maxQueueWaitMs === 0) return Promise.reject(busy(host.key, 'the wait queue is full'));
    return this.#wait(host.key, options, () => (host.node.online ? [host] : []));
  }

  /** Refuses new requests; fails every waiting one with PRX_ERR_SERVER_DRAINING. Idempotent. */
  close(): void {
    this.#closed = true;
    this.#options.catalog.off('change', this.#pump);
    for (const waiter of this.#queue.splice(0)) waiter.fail(draining());
  }

  #wait(key: string, options: AcquireOptions, hosts = (): ModelHost[] => this.#onlineHosts(key, options)): Promise<Lease> {
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const since = performance.now();
      const leave = (): void => {
        this.#options.onQueueWait?.(performance.now() - since);
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const at = this.#queue.indexOf(waiter);
        if (at >= 0) this.#queue.splice(at, 1);
      };
      const waiter: Waiter = {
        key,
        options,
        hosts,
        grant: (host) => {
          leave();
          resolve(this.#lease(host));
        },
        fail: (err) => {
          leave();
          reject(err);
        },
      };
      const onAbort = (): void => waiter.fail(signal!.reason);
      const waitMs = this.#options.maxQueueWaitMs;
      const timer = setTimeout(() => waiter.fail(busy(key, `no node was free within ${waitMs} ms`)), waitMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#queue.push(waiter);
      this.emit('queued', key);
    });
  }

  /** The online hosts of `key` a waiter may take. */
  #onlineHosts(key: string, options: AcquireOptions): ModelHost[] {
    const found = this.#options.catalog.lookup(key);
    return found.status === 'online' ? found.hosts.filter((h) => !options.exclude?.has(h.node.name)) : [];
  }

  /** The hosts the health view admits (all of them without one). */
  #healthy(hosts: ModelHost[]): ModelHost[] {
    const health = this.#options.health;
    return health === undefined ? hosts : hosts.filter((h) => health.admits(h));
  }

  /** The preferred host if it has room, else the least busy with room (any host with `ignoreCapacity`); ties at random. */
  #pick(hosts: readonly ModelHost[], ignoreCapacity: boolean, prefer?: (host: ModelHost) => boolean): ModelHost | undefined {
    let best: ModelHost[] = [];
    let least = Infinity;
    for (const host of hosts) {
      const n = this.inFlight(host.node.name, host.service);
      if (!ignoreCapacity && n >= host.maxConcurrent) continue;
      if (prefer?.(host) === true) return host;
      if (n < least) {
        least = n;
        best = [host];
      } else if (n === least) best.push(host);
    }
    if (best.length <= 1) return best[0];
    return best[Math.min(best.length - 1, Math.floor(this.#random() * best.length))];
  }

  #lease(host: ModelHost): Lease {
    const slot = slotKey(host.node.name, host.service);
    this.#inFlight.set(slot, (this.#inFlight.get(slot) ?? 0) + 1);
    this.#options.health?.leased(host);
    let held = true;
    return {
      host,
      release: () => {
        if (!held) return;
        held = false;
        this.#options.health?.released(host);
        const left = (this.#inFlight.get(slot) ?? 1) - 1;
        if (left === 0) this.#inFlight.delete(slot);
        else this.#inFlight.set(slot, left);
        this.#grantWaiters();
      },
    };
  }

  /** Gives free slots to waiters, oldest first. */
  #grantWaiters(): void {
    for (let i = 0; i < this.#queue.length; ) {
      const waiter = this.#queue[i]!;
      const host = this.#pick(this.#healthy(waiter.hosts()), false, waiter.options.prefer);
      if (host === undefined) i++;
      else waiter.grant(host); // removes it from the queue: the same index is the next waiter
    }
  }
}

function slotKey(node: string, service: string): string {
  return `${node}\0${service}`;
}

function busy(key: string, why: string): ProximaError {
  return new ProximaError(ErrorCodes.NODES_BUSY, `every node sharing ${displayName(key)} is busy: ${why}`);
}

function draining(): ProximaError {
  return new ProximaError(ErrorCodes.SERVER_DRAINING, 'the super node is shutting down');
}
