/**
 * Reference answers to canary prompts: what another node serving the same digest answered, asked
 * once and reused for `referenceCacheMs`, so a reference node is not asked for every canary. A
 * reference is never the node under test, a suspect (a node that failed a canary or was outvoted
 * this epoch), nor a node whose last probe failed; nodes that passed canaries are asked first.
 * Asking a reference takes a slot on it like any canary, and leaves no ledger record.
 */

import { newRequestId } from '../../http/request-id.js';
import type { AnswerText } from '../../proto/llm/text.js';
import type { CanaryApi, CanaryCall } from './canary-call.js';
import { callCanary } from './canary-call.js';

/** A reference node's answer. */
export interface Reference {
  node: string;
  answer: AnswerText;
}

/** What is asked: the same request the node under test got, on the same digest. */
export interface ReferenceQuery {
  call: Omit<CanaryCall, 'node' | 'requestId'>;
  digest: string;
  /** Which prompt: with the digest and the route, the cache key. */
  promptIndex: number;
  /** Nodes not to use. */
  exclude: ReadonlySet<string>;
}

/** How references are chosen. */
export interface ReferenceOptions {
  api: CanaryApi;
  cacheMs: number;
  now: () => number;
  random: () => number;
  /** True for a node not to trust as a reference. */
  distrusted(node: string): boolean;
  /** How many canaries the node passed: trusted references go first. */
  passed(node: string): number;
}

/** Nodes tried at most for one reference answer. */
const MAX_REFERENCE_ATTEMPTS = 3;

/** The cache of reference answers, and how a reference is found. */
export class ReferenceAnswers {
  readonly #o: ReferenceOptions;
  readonly #cache = new Map<string, Reference & { digest: string; expiresMs: number }>();

  constructor(options: ReferenceOptions) {
    this.#o = options;
  }

  /** A reference answer to `q`, from the cache or a node; undefined when no other node could give one. */
  async answer(q: ReferenceQuery): Promise<Reference | undefined> {
    const key = `${q.digest}\0${q.call.route}\0${q.promptIndex}`;
    const nowMs = this.#o.now();
    for (const [k, v] of this.#cache) if (v.expiresMs <= nowMs) this.#cache.delete(k);
    const cached = this.#cache.get(key);
    if (cached !== undefined && !q.exclude.has(cached.node) && !this.#o.distrusted(cached.node)) return cached;
    for (const node of this.#candidates(q).slice(0, MAX_REFERENCE_ATTEMPTS)) {
      // A request id of its own: two nodes never see the same one.
      const got = await callCanary(this.#o.api, { ...q.call, node, requestId: newRequestId() });
      if (got === undefined || got.answer === undefined || got.answer.text === '') continue;
      const reference = { node, answer: got.answer };
      if (this.#o.cacheMs > 0) this.#cache.set(key, { ...reference, digest: q.digest, expiresMs: this.#o.now() + this.#o.cacheMs });
      return reference;
    }
    return undefined;
  }

  /**
   * Whether a reference could be had for `digest` without `node`: another trusted node serves it, or an
   * answer of one is cached. Without one a canary could only end undecided, at the node's expense.
   */
  possible(key: string, digest: string, node: string): boolean {
    for (const v of this.#cache.values()) if (v.node !== node && !this.#o.distrusted(v.node) && v.digest === digest) return true;
    return this.#candidates({ call: { key }, digest, exclude: new Set([node]) }).length > 0;
  }

  /** Forgets every cached answer of `node` (it turned out unreliable). */
  forget(node: string): void {
    for (const [k, v] of this.#cache) if (v.node === node) this.#cache.delete(k);
  }

  /** Other nodes serving the digest, trusted first, in random order within each group. */
  #candidates(q: Pick<ReferenceQuery, 'digest' | 'exclude'> & { call: Pick<ReferenceQuery['call'], 'key'> }): string[] {
    const found = this.#o.api.catalog.lookup(q.call.key);
    if (found.status !== 'online') return [];
    const names = new Set(
      found.hosts
        .filter((h) => h.model.digest === q.digest && !q.exclude.has(h.node.name) && !this.#o.distrusted(h.node.name))
        .map((h) => h.node.name),
    );
    const ranked = [...names].map((node) => ({ node, trusted: this.#o.passed(node) > 0, draw: this.#o.random() }));
    ranked.sort((a, b) => Number(b.trusted) - Number(a.trusted) || a.draw - b.draw);
    return ranked.map((r) => r.node);
  }
}
