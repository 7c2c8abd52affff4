/**
 * Turns ledger records into what each node earned in a window of time. The epoch is the unit of
 * settlement: model weights, flags, canary verdicts and implausible counts are taken over whole
 * epochs (so a report over part of an epoch agrees with one over all of it), while requests,
 * tokens, probes and credit are counted only inside the window. Feed it every record of the
 * epochs the window touches (from `fromMs` on: later records, such as flags, may concern them), in any order, then ask for the report. Pure: no I/O, and
 * the clock is an argument.
 */

import { type CanaryRecord, type LedgerRecord, type ProbeRecord, type RequestRecord, recordTimeMs } from '../ledger/ledger-record.js';
import { Epochs } from './epochs.js';
import { ModelWeights, weightKey } from './model-weight.js';
import { emptyCounts, type NodeCounts, type NodeEpoch, type NodeRewards, round, settleNode } from './node-rewards.js';
import { judgeRequest } from './request-credit.js';
import type { RewardRules } from './rules.js';

/** A span of time, [fromMs, toMs), in milliseconds since the Unix epoch. */
export interface RewardsWindow {
  fromMs: number;
  toMs: number;
}

interface Verdict {
  node: string;
  epoch: number;
  inWindow: boolean;
  passed: boolean;
  digest: string;
  reference: string | null;
  fromRecord: boolean;
}

/** Accumulates records; {@link RewardsTally.report} settles them. */
export class RewardsTally {
  readonly #rules: RewardRules;
  readonly #window: RewardsWindow;
  readonly #epochs: Epochs;
  /** The first and last epoch the window touches. */
  readonly firstEpoch: number;
  readonly lastEpoch: number;
  readonly #counts = new Map<string, NodeCounts>();
  readonly #nodeEpochs = new Map<string, Map<number, NodeEpoch>>();
  readonly #weights = new Map<number, ModelWeights>();
  /** Canary verdicts by request id: a `canary` record replaces the mark on its request. */
  readonly #verdicts = new Map<string, Verdict>();
  readonly #looseVerdicts: Verdict[] = [];

  constructor(rules: RewardRules, window: RewardsWindow) {
    this.#rules = rules;
    this.#window = window;
    this.#epochs = new Epochs(rules);
    this.firstEpoch = this.#epochs.of(window.fromMs);
    this.lastEpoch = this.#epochs.of(Math.max(window.fromMs, window.toMs - 1));
  }

  /** Records from this time on may matter: read the ledger from here. */
  get fromMs(): number {
    return this.#epochs.startMs(this.firstEpoch);
  }

  /** Takes one record into account; records of other epochs are ignored. */
  add(record: LedgerRecord): void {
    const timeMs = recordTimeMs(record);
    const epoch = record.type === 'flag' ? record.epoch : this.#epochs.of(timeMs);
    if (epoch < this.firstEpoch || epoch > this.lastEpoch) return;
    const inWindow = timeMs >= this.#window.fromMs && timeMs < this.#window.toMs;
    if (record.type === 'request') this.#request(record, epoch, inWindow);
    else if (record.type === 'probe') this.#probe(record, epoch, inWindow);
    else if (record.type === 'canary') this.#canary(record, epoch, inWindow);
    else {
      this.#nodeEpoch(record.node, epoch).flagged = true;
      this.#countsOf(record.node);
    }
  }

  /**
   * Every node with activity in the window (or a flag in its epochs), by name, settled as of
   * `nowMs`. It changes nothing: records may still be added and the report asked for again.
   */
  report(nowMs: number): NodeRewards[] {
    const counts = new Map([...this.#counts].map(([node, c]) => [node, { ...c }]));
    const failedCanary = new Set<string>();
    const confirmed = new Set<string>();
    for (const v of [...this.#verdicts.values(), ...this.#looseVerdicts]) {
      if (!v.passed) failedCanary.add(epochKey(v.node, v.epoch));
      else if (v.reference !== null) confirmed.add(epochKey(v.digest, v.epoch));
      if (!v.inWindow) continue;
      if (!counts.has(v.node)) counts.set(v.node, emptyCounts());
      counts.get(v.node)![v.passed ? 'canariesPassed' : 'canariesFailed'] += 1;
    }
    const rows = [...counts.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([node, c]) =>
        settleNode(node, c, this.#nodeEpochs.get(node) ?? new Map(), {
          rules: this.#rules,
          epochs: this.#epochs,
          nowMs,
          failedCanary: (epoch) => failedCanary.has(epochKey(node, epoch)),
          weight: (epoch, model) => this.#weightsOf(epoch).weight(model, confirmed.has(epochKey(model, epoch))),
        }),
      );
    const total = rows.reduce((sum, r) => sum + r.pendingCredit + r.validatedCredit, 0);
    for (const row of rows) row.share = total > 0 ? round((row.pendingCredit + row.validatedCredit) / total) : 0;
    return rows;
  }

  #request(r: RequestRecord, epoch: number, inWindow: boolean): void {
    const model = weightKey(r);
    this.#weightsOf(epoch).claim(model, r.node, r.parameterSize);
    const verdict = judgeRequest(r, this.#rules);
    const ne = this.#nodeEpoch(r.node, epoch);
    if (verdict.kind === 'implausible') ne.implausible += 1;
    if (verdict.kind === 'credited') ne.served.add(model);
    if (r.canary !== null && r.canary.passed !== null && !this.#verdicts.get(r.id)?.fromRecord) {
      const { passed, digest, reference } = r.canary;
      this.#verdicts.set(r.id, { node: r.node, epoch, inWindow, passed, digest, reference, fromRecord: false });
    }
    if (!inWindow) return;
    const c = this.#countsOf(r.node);
    c.requests += 1;
    if (verdict.kind === 'failed') c.failedRequests += 1;
    else if (verdict.kind === 'own_key') c.ownKeyRequests += 1;
    else if (verdict.kind === 'implausible') c.implausibleRequests += 1;
    else {
      c.creditedRequests += 1;
      if (r.outcome === 'client_abort') c.abortedRequests += 1;
      if (verdict.tokens.clamped) c.clampedRequests += 1;
      c.promptTokens += verdict.tokens.prompt;
      c.completionTokens += verdict.tokens.completion;
      const sum = ne.tokens.get(model) ?? { prompt: 0, completion: 0 };
      ne.tokens.set(model, { prompt: sum.prompt + verdict.tokens.prompt, completion: sum.completion + verdict.tokens.completion });
    }
  }

  #probe(p: ProbeRecord, epoch: number, inWindow: boolean): void {
    // Probes while a node shares no model say nothing of its availability as a model server.
    if (!inWindow || p.models.length === 0) return;
    const c = this.#countsOf(p.node);
    c.probes += 1;
    if (!p.ok) return;
    c.probesPassed += 1;
    this.#nodeEpoch(p.node, epoch).passedProbes += 1;
  }

  #canary(k: CanaryRecord, epoch: number, inWindow: boolean): void {
    const verdict: Verdict = {
      node: k.node,
      epoch,
      inWindow,
      passed: k.passed,
      digest: k.digest,
      reference: k.reference,
      fromRecord: true,
    };
    if (typeof k.requestId === 'string') this.#verdicts.set(k.requestId, verdict);
    else this.#looseVerdicts.push(verdict);
  }

  #countsOf(node: string): NodeCounts {
    let c = this.#counts.get(node);
    if (c === undefined) this.#counts.set(node, (c = emptyCounts()));
    return c;
  }

  #nodeEpoch(node: string, epoch: number): NodeEpoch {
    let byEpoch = this.#nodeEpochs.get(node);
    if (byEpoch === undefined) this.#nodeEpochs.set(node, (byEpoch = new Map()));
    let ne = byEpoch.get(epoch);
    if (ne === undefined) {
      ne = { flagged: false, implausible: 0, served: new Set(), tokens: new Map(), passedProbes: 0 };
      byEpoch.set(epoch, ne);
    }
    return ne;
  }

  #weightsOf(epoch: number): ModelWeights {
    let w = this.#weights.get(epoch);
    if (w === undefined) this.#weights.set(epoch, (w = new ModelWeights(this.#rules)));
    return w;
  }
}

function epochKey(name: string, epoch: number): string {
  return `${epoch}\u0000${name}`;
}
