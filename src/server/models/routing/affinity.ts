/**
 * Prompt-cache affinity: which node served each conversation last (by the model asked for and the
 * conversation's keys, conversation.ts), so that its next turn goes there while that node has a
 * free slot, and Ollama's prompt cache for it is reused. Only a preference among free hosts: the
 * router still never waits for the remembered node. Bounded: the least recently used entries go
 * past `maxEntries`.
 */
import { LazyLru } from '../../lazy-lru.js';
import type { ModelHost } from './model-catalog.js';

/** Where a conversation was served: a node's service and the model it ran there. */
interface Served {
  node: string;
  service: string;
  model: string;
}

/** The memory of conversations. `maxEntries` 0 turns affinity off. */
export class Affinity {
  readonly #served: LazyLru<string, Served> | undefined;
  #hits = 0;
  #misses = 0;

  constructor(maxEntries: number) {
    this.#served = maxEntries > 0 ? new LazyLru({ max: maxEntries }) : undefined;
  }

  /** Conversations remembered. */
  get size(): number {
    return this.#served?.size ?? 0;
  }

  /** Requests whose conversation was known, and those that were not (keyed requests only). */
  get stats(): { hits: number; misses: number } {
    return { hits: this.#hits, misses: this.#misses };
  }

  /** A test for the host that served this conversation before; undefined when none did. */
  preferred(model: string, keys: readonly string[]): ((host: ModelHost) => boolean) | undefined {
    if (this.#served === undefined || keys.length === 0) return undefined;
    for (const key of keys) {
      const served = this.#served.get(`${model}\0${key}`);
      if (served === undefined) continue;
      this.#hits++;
      return (host) => host.node.name === served.node && host.service === served.service && host.key === served.model;
    }
    this.#misses++;
    return undefined;
  }

  /** `host` served this conversation: remembered under its longest key. */
  remember(model: string, keys: readonly string[], host: ModelHost): void {
    if (this.#served === undefined || keys.length === 0) return;
    this.#served.set(`${model}\0${keys[0]}`, { node: host.node.name, service: host.service, model: host.key });
  }
}
