/**
 * What a model weighs in the credit: its size in billions of parameters (forward-pass compute is
 * about 2 FLOPs per parameter per token), from Ollama's `details.parameter_size` ("3.2B", "405M").
 * Sizes are claims by nodes, so a digest's size is what most nodes serving it say (a tie goes to
 * the smaller), and a size only one node claims counts in full only once a canary against another
 * node confirmed the digest.
 */
import type { RewardRules } from './rules.js';

const SIZE = /^\s*(\d+(?:\.\d+)?)\s*([KMBT])\s*$/i;
const BILLIONS_PER_UNIT: Record<string, number> = { K: 1e-6, M: 1e-3, B: 1, T: 1e3 };
const MIN_MODEL_WEIGHT = 0.01;

/** `parameter_size` in billions ("3.2B" → 3.2, "405M" → 0.405), or undefined when it does not parse. */
export function parameterBillions(size: string | null | undefined): number | undefined {
  const m = typeof size === 'string' ? SIZE.exec(size) : null;
  if (m === null) return undefined;
  const billions = Number(m[1]) * BILLIONS_PER_UNIT[m[2]!.toUpperCase()]!;
  return billions > 0 ? billions : undefined;
}

/** The weight of a claimed size: the size in billions, or the default when unknown, within bounds. */
export function claimedWeight(size: string | null | undefined, rules: Pick<RewardRules, 'defaultModelWeight' | 'maxModelWeight'>): number {
  return clampWeight(parameterBillions(size) ?? rules.defaultModelWeight, rules);
}

function clampWeight(billions: number, rules: Pick<RewardRules, 'maxModelWeight'>): number {
  return Math.min(Math.max(billions, MIN_MODEL_WEIGHT), rules.maxModelWeight);
}

/** The claims about model sizes in one epoch, and the weight they settle on per model. */
export class ModelWeights {
  readonly #rules: Pick<RewardRules, 'defaultModelWeight' | 'maxModelWeight' | 'unconfirmedModelWeight'>;
  /** model key → node → the smallest size (billions) that node claimed for it. */
  readonly #claims = new Map<string, Map<string, number>>();

  constructor(rules: Pick<RewardRules, 'defaultModelWeight' | 'maxModelWeight' | 'unconfirmedModelWeight'>) {
    this.#rules = rules;
  }

  /** Records that `node` served `model` (a digest, see {@link weightKey}) claiming `size`. */
  claim(model: string, node: string, size: string | null | undefined): void {
    const billions = parameterBillions(size);
    if (billions === undefined) return;
    let byNode = this.#claims.get(model);
    if (byNode === undefined) this.#claims.set(model, (byNode = new Map()));
    byNode.set(node, Math.min(byNode.get(node) ?? Infinity, billions));
  }

  /** The weight `model` earns with; `confirmed` when a canary compared it on two nodes and they agreed. */
  weight(model: string, confirmed = false): number {
    const byNode = this.#claims.get(model);
    if (byNode === undefined || byNode.size === 0) return clampWeight(this.#rules.defaultModelWeight, this.#rules);
    const votes = new Map<number, number>();
    for (const billions of byNode.values()) votes.set(billions, (votes.get(billions) ?? 0) + 1);
    let best = Infinity;
    let bestVotes = 0;
    for (const [billions, n] of votes) {
      if (n > bestVotes || (n === bestVotes && billions < best)) [best, bestVotes] = [billions, n];
    }
    const trusted = confirmed || byNode.size > 1;
    return clampWeight(trusted ? best : Math.min(best, this.#rules.unconfirmedModelWeight), this.#rules);
  }
}

/** The key a request's model is weighed under: its digest, or its name when the digest is unknown. */
export function weightKey(record: { digest: string | null; model: string }): string {
  return record.digest ?? `name:${record.model}`;
}
