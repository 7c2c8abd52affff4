/**
 * The models the API offers: the union of what online nodes advertise on their `ollama` services,
 * indexed by normalised name. It also remembers which models offline nodes had (from their registry
 * records, where each advertisement is kept), so a model only offline nodes share is told apart
 * from one nobody shares: 503, not 404. A node that advertises no models at all (its Ollama was down
 * when it started) keeps its remembered ones, for the same reason.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from '../../../log.js';
import type { ModelAdvert, ServiceAdvert } from '../../../proto/control/messages.js';
import { modelKey } from '../../../proto/llm/model-name.js';
import type { LiveNode } from '../../node-directory.js';

/** A live node as the API routes to it: it also says whether it still takes new work. */
export interface ModelNode extends LiveNode {
  readonly online: boolean;
}

/** One model on one node's service: where a request for it can go. */
export interface ModelHost {
  node: ModelNode;
  service: string;
  /** The Host its Ollama wants; `localhost:11434` when the node advertised none. */
  hostHeader: string;
  maxConcurrent: number;
  model: ModelAdvert;
  /** The normalised model name. */
  key: string;
}

/** Where a model is: on online nodes, only on offline (or draining) ones, or nowhere. */
export type ModelLookup = { status: 'online'; hosts: ModelHost[] } | { status: 'offline' } | { status: 'unknown' };

/** What the catalog follows: the live nodes' advertisements (NodeSessions). */
export interface CatalogNodes {
  on(event: 'advertised' | 'draining' | 'closed', listener: (node: ModelNode) => void): unknown;
  off(event: 'advertised' | 'draining' | 'closed', listener: (node: ModelNode) => void): unknown;
}

/** Where the last advertisement of each node is kept (the Registry). */
export interface ModelMemory {
  list(): Promise<readonly { name: string; [field: string]: unknown }[]>;
  rememberModels(name: string, models: readonly ModelAdvert[]): Promise<void>;
  on(event: 'revoked', listener: (name: string) => void): unknown;
  off(event: 'revoked', listener: (name: string) => void): unknown;
}

/** The Host an Ollama service gets when it advertised none (Ollama answers 403 to any other). */
export const DEFAULT_OLLAMA_HOST = 'localhost:11434';

/** The index of models. Open it with {@link ModelCatalog.open}; `change` fires whenever hosts change. */
export class ModelCatalog extends EventEmitter<{ change: [] }> {
  readonly #nodes: CatalogNodes;
  readonly #memory: ModelMemory;
  readonly #logger: Logger;
  /** Per node name: the session that advertised last and its hosts. */
  readonly #current = new Map<string, { node: ModelNode; hosts: ModelHost[] }>();
  readonly #byModel = new Map<string, Set<ModelHost>>();
  /** Per node name: the model keys of its last advertisement, and that advertisement as stored. */
  readonly #remembered = new Map<string, { keys: Set<string>; stored: string }>();

  private constructor(nodes: CatalogNodes, memory: ModelMemory, logger: Logger) {
    super();
    this.#nodes = nodes;
    this.#memory = memory;
    this.#logger = logger;
  }

  /** Subscribes to the nodes, then loads what the registry remembers of offline ones. */
  static async open(options: { nodes: CatalogNodes; memory: ModelMemory; logger: Logger }): Promise<ModelCatalog> {
    const catalog = new ModelCatalog(options.nodes, options.memory, options.logger);
    options.nodes.on('advertised', catalog.#onAdvertised);
    options.nodes.on('draining', catalog.#onChange);
    options.nodes.on('closed', catalog.#onClosed);
    options.memory.on('revoked', catalog.#onRevoked);
    for (const record of await options.memory.list()) {
      // A node that advertised while the list was read is known better already.
      if (!catalog.#remembered.has(record.name) && Array.isArray(record.models))
        catalog.#remember(record.name, record.models as ModelAdvert[]);
    }
    return catalog;
  }

  /** Where `key` (a normalised name) can be served now. */
  lookup(key: string): ModelLookup {
    const all = this.#byModel.get(key);
    const hosts = all === undefined ? [] : [...all].filter((h) => h.node.online);
    if (hosts.length > 0) return { status: 'online', hosts };
    if ((all?.size ?? 0) > 0) return { status: 'offline' };
    for (const { keys } of this.#remembered.values()) if (keys.has(key)) return { status: 'offline' };
    return { status: 'unknown' };
  }

  /** Every model some online node serves, by name, with its online hosts. */
  online(): { key: string; hosts: ModelHost[] }[] {
    const out: { key: string; hosts: ModelHost[] }[] = [];
    for (const [key, all] of this.#byModel) {
      const hosts = [...all].filter((h) => h.node.online);
      if (hosts.length > 0) out.push({ key, hosts });
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** A host of `node`'s `service` as it advertised last (any of its models: they share the service's slots). */
  hostOn(node: string, service: string): ModelHost | undefined {
    return this.#current.get(node)?.hosts.find((h) => h.service === service);
  }

  /** Stops following the nodes. Idempotent. */
  close(): void {
    this.#nodes.off('advertised', this.#onAdvertised);
    this.#nodes.off('draining', this.#onChange);
    this.#nodes.off('closed', this.#onClosed);
    this.#memory.off('revoked', this.#onRevoked);
  }

  readonly #onAdvertised = (node: ModelNode): void => {
    this.#drop(node.name);
    const hosts = node.services.flatMap((service) => hostsOf(node, service));
    this.#current.set(node.name, { node, hosts });
    for (const host of hosts) {
      let set = this.#byModel.get(host.key);
      if (set === undefined) this.#byModel.set(host.key, (set = new Set()));
      set.add(host);
    }
    const models = node.services.flatMap((s) => (s.kind === 'ollama' ? (s.models ?? []) : []));
    // An advert with no models is a node whose Ollama is down (or not read yet): they are unavailable, not unknown.
    if (models.length > 0 && this.#remember(node.name, models)) {
      this.#memory.rememberModels(node.name, models).catch((err: unknown) => {
        this.#logger.warn('could not keep the models a node advertised', { node: node.name, err });
      });
    }
    this.emit('change');
  };

  readonly #onChange = (): void => void this.emit('change');

  readonly #onClosed = (node: ModelNode): void => {
    if (this.#current.get(node.name)?.node !== node) return; // a replaced session: the new one counts
    this.#drop(node.name);
    this.emit('change');
  };

  readonly #onRevoked = (name: string): void => {
    this.#remembered.delete(name);
    this.#drop(name);
    this.emit('change');
  };

  /** Records the models of `name`'s last advertisement; true when they differ from what was stored. */
  #remember(name: string, models: readonly ModelAdvert[]): boolean {
    const stored = JSON.stringify(models);
    // A node never remembered has no models on record: sharing none changes nothing to write.
    if ((this.#remembered.get(name)?.stored ?? '[]') === stored) return false;
    const keys = new Set(models.map((m) => modelKey(m?.name)).filter((k): k is string => k !== undefined));
    this.#remembered.set(name, { keys, stored });
    return true;
  }

  #drop(name: string): void {
    const old = this.#current.get(name);
    if (old === undefined) return;
    this.#current.delete(name);
    for (const host of old.hosts) {
      const set = this.#byModel.get(host.key);
      set?.delete(host);
      if (set?.size === 0) this.#byModel.delete(host.key);
    }
  }
}

/** The hosts one service of a node offers: its models, if it is an Ollama service. */
function hostsOf(node: ModelNode, service: ServiceAdvert): ModelHost[] {
  if (service.kind !== 'ollama') return [];
  const hosts: ModelHost[] = [];
  const seen = new Set<string>();
  for (const model of service.models ?? []) {
    const key = modelKey(model.name);
    if (key === undefined || seen.has(key)) continue;
    seen.add(key);
    hosts.push({
      node,
      service: service.name,
      hostHeader: service.hostHeader ?? DEFAULT_OLLAMA_HOST,
      maxConcurrent: service.maxConcurrent ?? 1,
      model,
      key,
    });
  }
  return hosts;
}
