/**
 * The API's HTTP clients to nodes: an H1Pool (src/http/h1-pool.ts) per node service whose
 * connections are tunnel streams (`openStream` on the node's session), kept alive between requests.
 * A pool lives as long as the node session it was made for: it is closed (idle streams at once, busy
 * ones after their answer) when the node stops taking work, so a node that leaves is never held up
 * by idle streams, and destroyed when the session is gone, a pool still closing included: a graceful
 * close waits for the requests whose streams are opening, and one opening on a session that died
 * would hold it forever.
 */
import { H1Pool } from '../../../http/h1-pool.js';
import type { Logger } from '../../../log.js';
import type { RemotePeer } from '../../node-directory.js';
import type { CatalogNodes, ModelHost, ModelNode } from './model-catalog.js';

/** Who the node is told it serves: the super node itself. Users' addresses are not the node's to know. */
export const API_PEER: RemotePeer = { address: '0.0.0.0', port: 0, tls: false, via: 'api' };

/** How long an idle tunnel stream is kept for the next request. */
export const DEFAULT_KEEP_ALIVE_MS = 4_000;

/** Options of UpstreamPools. */
export interface UpstreamPoolsOptions {
  nodes: CatalogNodes;
  keepAliveMs?: number;
  logger: Logger;
}

/** A pool closing or being destroyed. */
interface Retired {
  node: ModelNode;
  /** Resolves once the pool is done and forgotten. */
  ending: Promise<void>;
  settle(): void;
}

/** The pools, by node session and service. */
export class UpstreamPools {
  readonly #options: UpstreamPoolsOptions;
  readonly #pools = new Map<ModelNode, Map<string, H1Pool>>();
  /** Pools closing or being destroyed, until they are done: their node, and what settles them. */
  readonly #retired = new Map<H1Pool, Retired>();
  #closed = false;
  readonly #onDraining = (node: ModelNode): void => this.#end(node, (pool) => pool.close());
  readonly #onClosed = (node: ModelNode): void => {
    this.#end(node, (pool) => pool.destroy());
    for (const [pool, retired] of this.#retired) if (retired.node === node) this.#cut(pool, retired);
  };

  constructor(options: UpstreamPoolsOptions) {
    this.#options = options;
    options.nodes.on('draining', this.#onDraining);
    options.nodes.on('closed', this.#onClosed);
  }

  /** Open pools, for tests and metrics. */
  get size(): number {
    let n = 0;
    for (const services of this.#pools.values()) n += services.size;
    return n;
  }

  /** The pool for `host`'s node and service; made on first use. */
  pool(host: ModelHost): H1Pool {
    const { node, service } = host;
    let services = this.#pools.get(node);
    if (services === undefined) this.#pools.set(node, (services = new Map()));
    let pool = services.get(service);
    if (pool === undefined) {
      pool = this.#create(host);
      services.set(service, pool);
    }
    return pool;
  }

  /** Lets requests in flight finish and closes every stream. Idempotent. */
  async close(): Promise<void> {
    this.#stop();
    for (const node of [...this.#pools.keys()]) this.#end(node, (pool) => pool.close());
    // A session that ends meanwhile still destroys its pools: closing ones may wait on nothing else.
    await this.#settled();
    this.#options.nodes.off('closed', this.#onClosed);
  }

  /** Cuts every stream now, those of pools still closing too. Idempotent. */
  async destroy(): Promise<void> {
    this.#stop();
    for (const node of [...this.#pools.keys()]) this.#end(node, (pool) => pool.destroy());
    for (const [pool, retired] of this.#retired) this.#cut(pool, retired);
    await this.#settled();
    this.#options.nodes.off('closed', this.#onClosed);
  }

  #create(host: ModelHost): H1Pool {
    const { node, service } = host;
    return new H1Pool({
      hostHeader: host.hostHeader,
      keepAliveMs: this.#options.keepAliveMs ?? DEFAULT_KEEP_ALIVE_MS,
      // Used once the node reached its Ollama: the pool then reads only HTTP from it.
      open: () => node.openStream(service, API_PEER),
    });
  }

  #end(node: ModelNode, how: (pool: H1Pool) => Promise<void>): void {
    const services = this.#pools.get(node);
    if (services === undefined) return;
    this.#pools.delete(node);
    for (const pool of services.values()) {
      let settle!: () => void;
      const ending = new Promise<void>((resolve) => (settle = resolve)).then(() => void this.#retired.delete(pool));
      this.#retired.set(pool, { node, ending, settle });
      how(pool)
        .catch((err: unknown) => this.#options.logger.debug('closing a node pool failed', { node: node.name, err }))
        .then(settle);
    }
  }

  /** Destroys a retired pool; that settles it even when its graceful close never will. */
  #cut(pool: H1Pool, retired: Retired): void {
    const destroying = pool.destroyed ? Promise.resolve() : pool.destroy();
    void destroying.catch(() => undefined).then(retired.settle);
  }

  #stop(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#options.nodes.off('draining', this.#onDraining);
  }

  async #settled(): Promise<void> {
    while (this.#retired.size > 0) await Promise.all([...this.#retired.values()].map((r) => r.ending));
  }
}
