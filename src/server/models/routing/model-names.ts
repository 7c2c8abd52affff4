/**
 * The catalog as users name models: a node's real models, and the operator's aliases
 * (`models.aliases`), each standing for the union of the hosts of its node models. A real model
 * wins over an alias of the same name: an alias names only what no node shares or once shared, so
 * it never hides a node's model (nor turns a canary for that model toward another one).
 */

import type { ModelHost, ModelLookup } from './model-catalog.js';
import type { ModelAlias, ModelNamesConfig } from './model-names-config.js';

/** What the names need of the catalog. */
export interface NamedCatalog {
  lookup(key: string): ModelLookup;
  online(): { key: string; hosts: ModelHost[] }[];
  on(event: 'change', listener: () => void): unknown;
  off(event: 'change', listener: () => void): unknown;
}

/** A model as lists show it: its key, its online hosts, and for an alias the name as configured. */
export interface NamedModel {
  key: string;
  hosts: ModelHost[];
  /** Set for an alias: listed as the operator wrote it. */
  name?: string;
}

/** The catalog with aliases, for the router and the listings; also the fallbacks of each model. */
export class ModelNames {
  readonly #catalog: NamedCatalog;
  readonly #config: ModelNamesConfig;

  constructor(catalog: NamedCatalog, config: ModelNamesConfig = { aliases: new Map(), fallbacks: new Map() }) {
    this.#catalog = catalog;
    this.#config = config;
  }

  /** Where `key` can be served: a real model's hosts, else an alias's (online if any target is). */
  lookup(key: string): ModelLookup {
    const real = this.#catalog.lookup(key);
    const alias = this.#config.aliases.get(key);
    if (alias === undefined || real.status !== 'unknown') return real;
    return this.#aliasLookup(alias);
  }

  /** The keys of the models that serve `key`'s requests when no node can take them, in order. */
  fallbacksOf(key: string): readonly string[] {
    return this.#config.fallbacks.get(key) ?? [];
  }

  /** Every model some online node serves, and every alias with an online target, by key. */
  online(): NamedModel[] {
    const out: NamedModel[] = this.#catalog.online();
    const taken = new Set(out.map((m) => m.key));
    for (const alias of this.#config.aliases.values()) {
      if (taken.has(alias.key) || this.#catalog.lookup(alias.key).status !== 'unknown') continue;
      const found = this.#aliasLookup(alias);
      if (found.status === 'online') out.push({ key: alias.key, hosts: found.hosts, name: alias.name });
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  on(event: 'change', listener: () => void): unknown {
    return this.#catalog.on(event, listener);
  }

  off(event: 'change', listener: () => void): unknown {
    return this.#catalog.off(event, listener);
  }

  #aliasLookup(alias: ModelAlias): ModelLookup {
    const hosts: ModelHost[] = [];
    let offline = false;
    for (const target of alias.targets) {
      const found = this.#catalog.lookup(target);
      if (found.status === 'online') hosts.push(...found.hosts);
      else if (found.status === 'offline') offline = true;
    }
    if (hosts.length > 0) return { status: 'online', hosts };
    return offline ? { status: 'offline' } : { status: 'unknown' };
  }
}
