/**
 * Canaries: a share of user requests (`canaryShare`; `newNodeCanaryShare` for a node that has passed
 * fewer than `newNodeCanaries`: since the super node started, or ever with the shared store, canary-passes.ts) is followed by a canary to the same
 * node: a deterministic prompt in the shape of the user's route (canary-prompts.ts), whose answer is
 * compared (`judgeCanary`) with a reference node's answer on the same digest (reference-answers.ts).
 * A node is failed only on a disagreement a second reference confirms, or that a reference which
 * itself passed canaries makes: with two nodes alone, who lies cannot be told, and an honest node
 * must not pay for it. Written per canary: its `request` record (keyId null, `canary` mark), then,
 * with a verdict, a `canary` record; a failed one also writes a `flag` for the epoch. Bounded: one
 * canary per node at a time, `maxCanariesInFlight` in all; a busy node is skipped, never queued for.
 */

import { newRequestId } from '../../http/request-id.js';
import type { Logger } from '../../log.js';
import { modelKey } from '../../proto/llm/model-name.js';
import type { AnswerText } from '../../proto/llm/text.js';
import type { CanaryRecord, FlagRecord, LedgerRecord, RequestRecord } from '../ledger/ledger-record.js';
import { type CanaryVerdict, judgeCanary } from '../rewards/canary-judge.js';
import { Epochs } from '../rewards/epochs.js';
import type { RewardRules, VerifyRules } from '../rewards/rules.js';
import { type CanaryApi, callCanary } from './canary-call.js';
import { type CanaryPasses, memoryCanaryPasses } from './canary-passes.js';
import { CANARY_PROMPTS, type CanaryRoute, canaryBody, isCanaryRoute } from './canary-prompts.js';
import { type Reference, ReferenceAnswers } from './reference-answers.js';

/** What one canary wrote: its request record, and its verdict and flag when there were any. */
export interface CanaryOutcome {
  request: RequestRecord;
  verdict: CanaryRecord | null;
  flag: FlagRecord | null;
}

/** What the canary step is built from. */
export interface CanariesOptions {
  api: CanaryApi;
  rules: VerifyRules & Pick<RewardRules, 'epochLengthMs' | 'epochOriginMs' | 'settleMs'>;
  /** Appends records to the ledger; resolves when they are durable. */
  write(records: LedgerRecord[]): Promise<void>;
  /** Hears every canary once its records are durable. */
  onOutcome?(outcome: CanaryOutcome): void;
  /** Hears a flag as soon as it is decided, before it is durable (the router stops sending users there). */
  onFlag?(node: string, epoch: number): void;
  /** True for a node whose last probe failed: no reference. */
  failing(node: string): boolean;
  logger: Logger;
  now?: () => number;
  random?: () => number;
  /** The counts of passed canaries (default: in memory, since the start); closed by the caller. */
  passes?: CanaryPasses;
}

/** Chooses, sends and judges canaries. `consider` each user request record once it is durable. */
export class Canaries {
  readonly #o: CanariesOptions;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #epochs: Epochs;
  readonly #references: ReferenceAnswers;
  readonly #running = new Map<string, Promise<void>>();
  readonly #passes: CanaryPasses;
  /** Nodes that failed a canary or were outvoted as a reference, with the epoch it happened in. */
  readonly #suspects = new Map<string, number>();
  readonly #stop = new AbortController();

  constructor(options: CanariesOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#passes = options.passes ?? memoryCanaryPasses();
    this.#epochs = new Epochs(options.rules);
    this.#references = new ReferenceAnswers({
      api: options.api,
      cacheMs: options.rules.referenceCacheMs,
      now: this.#now,
      random: this.#random,
      distrusted: (node) => this.#suspect(node) || options.failing(node),
      passed: (node) => this.#passes.get(node),
    });
  }

  /** Canaries in flight. */
  get inFlight(): number {
    return this.#running.size;
  }

  /** Maybe follows the user request `r` with a canary to its node; never throws. */
  consider(r: RequestRecord): void {
    if (this.#stop.signal.aborted || r.canary !== null || r.outcome !== 'ok' || r.digest === null || !isCanaryRoute(r.route)) return;
    const { rules } = this.#o;
    const share = this.#passes.get(r.node) < rules.newNodeCanaries ? rules.newNodeCanaryShare : rules.canaryShare;
    if (this.#random() >= share) return;
    const key = modelKey(r.model);
    if (key === undefined || !this.#references.possible(key, r.digest, r.node)) return; // nothing to compare with
    if (this.#running.has(r.node) || this.#running.size >= rules.maxCanariesInFlight) {
      this.#o.logger.debug('canary skipped: one is in flight already', { node: r.node });
      return;
    }
    const running = this.#run(r.node, r.model, r.digest, r.route, r.stream)
      .catch((err: unknown) => this.#o.logger.warn('a canary failed', { node: r.node, err }))
      .finally(() => this.#running.delete(r.node));
    this.#running.set(r.node, running);
  }

  /** Starts no canary more and cuts those in flight (they write nothing). Idempotent. */
  async close(): Promise<void> {
    this.#stop.abort();
    await Promise.all([...this.#running.values()]);
  }

  /** The same as close. */
  destroy(): Promise<void> {
    return this.close();
  }

  async #run(node: string, model: string, digest: string, route: CanaryRoute, stream: boolean): Promise<void> {
    const key = modelKey(model);
    if (key === undefined) return;
    const promptIndex = Math.min(CANARY_PROMPTS.length - 1, Math.floor(this.#random() * CANARY_PROMPTS.length));
    const body = canaryBody(route, model, CANARY_PROMPTS[promptIndex]!, stream, this.#o.rules.canaryMaxTokens);
    const startedAtMs = this.#now();
    const call = { key, route, body, startedAtMs, timeoutMs: this.#o.rules.canaryTimeoutMs, signal: this.#stop.signal };
    const result = await callCanary(this.#o.api, { ...call, node, requestId: newRequestId() });
    if (result === undefined || this.#stop.signal.aborted) return;
    let judged: { verdict: CanaryVerdict; reference: string | null } = {
      verdict: { passed: null, reason: 'the node did not answer in full' },
      reference: null,
    };
    if (result.answer !== undefined && result.host.model.digest === digest) {
      judged = await this.#judge(node, result.answer, { call, digest, promptIndex, exclude: new Set([node]) });
    }
    if (this.#stop.signal.aborted) return;
    const { verdict, reference } = judged;
    const request: RequestRecord = { ...result.record, canary: { reference, digest, passed: verdict.passed } };
    const time = request.time;
    const canary: CanaryRecord | null =
      verdict.passed === null
        ? null
        : {
            type: 'canary',
            node,
            time,
            model: request.model,
            digest,
            passed: verdict.passed,
            reason: verdict.reason.slice(0, 1024),
            reference,
            requestId: request.id,
          };
    let flag: FlagRecord | null = null;
    if (verdict.passed === false) {
      const epoch = this.#epochs.of(startedAtMs);
      this.#suspects.set(node, epoch);
      this.#o.onFlag?.(node, epoch);
      flag = {
        type: 'flag',
        node,
        time: new Date(this.#now()).toISOString(),
        epoch,
        reason: `failed a canary: ${verdict.reason}`.slice(0, 1024),
      };
    } else if (verdict.passed === true) this.#passes.passed(node);
    const records: LedgerRecord[] = [request];
    if (canary !== null) records.push(canary);
    if (flag !== null) records.push(flag);
    await this.#o.write(records);
    this.#o.onOutcome?.({ request, verdict: canary, flag });
  }

  /** The verdict on `answer`, with the reference that decided it. */
  async #judge(
    node: string,
    answer: AnswerText,
    q: Parameters<ReferenceAnswers['answer']>[0],
  ): Promise<{ verdict: CanaryVerdict; reference: string | null }> {
    const first = await this.#references.answer(q);
    if (first === undefined) return { verdict: { passed: null, reason: 'no other node serving the digest answered' }, reference: null };
    const v1 = judgeCanary(toJudged(answer), toJudged(first.answer));
    if (v1.passed !== false) return { verdict: v1, reference: first.node };
    // A disagreement: a second reference decides who is wrong.
    const second: Reference | undefined = await this.#references.answer({ ...q, exclude: new Set([node, first.node]) });
    if (second === undefined) {
      if (this.#passes.get(first.node) > 0) return { verdict: v1, reference: first.node };
      return {
        verdict: { passed: null, reason: `undecided: the only reference (${first.node}) disagrees: ${v1.reason}` },
        reference: first.node,
      };
    }
    const v2 = judgeCanary(toJudged(answer), toJudged(second.answer));
    if (v2.passed === false)
      return { verdict: { passed: false, reason: `${v1.reason}; a second reference (${second.node}) agrees` }, reference: first.node };
    this.#suspects.set(first.node, this.#epochs.of(this.#now()));
    this.#references.forget(first.node);
    return { verdict: v2, reference: second.node };
  }

  #suspect(node: string): boolean {
    return this.#suspects.get(node) === this.#epochs.of(this.#now());
  }
}

function toJudged(a: AnswerText): { text: string; completionTokensReported: number | null } {
  return { text: a.text, completionTokensReported: a.completionTokens };
}
