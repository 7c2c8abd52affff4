/**
 * What the router knows of each host's health, apart from how busy it is: a circuit breaker per node
 * service (breakers.ts), fed by the outcome of every request and by the availability prober; and
 * the nodes flagged this epoch (a failed canary), which get no user traffic until their epoch has
 * settled (`routing.avoidFlagged`). The router asks `admits` before it picks; a model whose every
 * host is refused here is unavailable (503), not unknown. Lists keep such a model for
 * `unhealthyGraceMs` after its hosts turned unhealthy.
 */
import type { Logger } from '../../../log.js';
import { Breaker, type BreakerRules, type BreakerState } from './breakers.js';
import type { ModelHost } from './model-catalog.js';

/** `routing.breaker`, `routing.avoidFlagged`, `routing.unhealthyGraceMs`. */
export interface HealthRules {
  breaker: BreakerRules;
  avoidFlagged: boolean;
  unhealthyGraceMs: number;
}

/** How a request on a host ended, as its breaker sees it. */
export type HostOutcome = 'ok' | 'fault' | 'none';

/** Options of RouteHealth. */
export interface RouteHealthOptions extends HealthRules {
  /** Monotonic clock in ms (breakers, grace). */
  monotonicNow?: () => number;
  /** Wall clock in ms (flags last until a wall-clock time). */
  now?: () => number;
  /** Hears each breaker that opens or closes. */
  logger?: Logger;
}

/** The health view. */
export class RouteHealth {
  readonly #o: RouteHealthOptions;
  readonly #mono: () => number;
  readonly #now: () => number;
  readonly #breakers = new Map<string, Breaker>();
  /** Flagged nodes: until when (wall ms) they get no traffic, and since when (monotonic) they are flagged. */
  readonly #flags = new Map<string, { untilMs: number; sinceMs: number }>();

  constructor(options: RouteHealthOptions) {
    this.#o = options;
    this.#mono = options.monotonicNow ?? (() => performance.now());
    this.#now = options.now ?? Date.now;
  }

  /** True when a user request may go to `host` now. */
  admits(host: ModelHost): boolean {
    if (this.flagged(host.node.name)) return false;
    return this.#breakers.get(slot(host.node.name, host.service))?.admits() ?? true;
  }

  /** A request was given to `host` (a half-open breaker's trial). */
  leased(host: ModelHost): void {
    this.#breakers.get(slot(host.node.name, host.service))?.leased();
  }

  /** The request's slot on `host` is back. */
  released(host: ModelHost): void {
    this.#breakers.get(slot(host.node.name, host.service))?.released();
  }

  /** How a request on `host` ended: a complete answer, a fault of the node, or neither (the user left, a 4xx). */
  report(host: ModelHost, outcome: HostOutcome): void {
    const { name } = host.node;
    const existing = this.#breakers.get(slot(name, host.service));
    if (outcome === 'ok' && existing !== undefined) this.#logged(name, host.service, (b) => b.success(), existing);
    else if (outcome === 'fault') this.#logged(name, host.service, (b) => b.failure());
  }

  /** A probe of one service of `node` failed (its success proves nothing of inference: it is not counted). */
  probeFailed(node: string, service: string): void {
    this.#logged(node, service, (b) => b.failure());
  }

  /** `node` failed a canary: no user traffic until `untilMs` (wall clock: its epoch's end plus the settling time). */
  flag(node: string, untilMs: number): void {
    if (!this.#o.avoidFlagged) return;
    const old = this.#flags.get(node);
    this.#flags.set(node, { untilMs: Math.max(untilMs, old?.untilMs ?? 0), sinceMs: old?.sinceMs ?? this.#mono() });
  }

  /** True while `node` is flagged and `routing.avoidFlagged` is on. */
  flagged(node: string): boolean {
    const flag = this.#flags.get(node);
    if (flag === undefined) return false;
    if (this.#now() < flag.untilMs) return true;
    this.#flags.delete(node);
    return false;
  }

  /** The breaker state of one node service (closed when none was ever needed). */
  state(node: string, service: string): BreakerState {
    return this.#breakers.get(slot(node, service))?.state ?? 'closed';
  }

  /** True when a list should still show a model these hosts share: one is healthy, or turned unhealthy within the grace. */
  listable(hosts: readonly ModelHost[]): boolean {
    const now = this.#mono();
    return hosts.some((h) => {
      const since = this.#unhealthySince(h);
      return since === undefined || now - since < this.#o.unhealthyGraceMs;
    });
  }

  #unhealthySince(host: ModelHost): number | undefined {
    const flagged = this.flagged(host.node.name) ? this.#flags.get(host.node.name)!.sinceMs : undefined;
    const broken = this.#breakers.get(slot(host.node.name, host.service))?.unhealthySinceMs;
    if (flagged === undefined) return broken;
    return broken === undefined ? flagged : Math.min(flagged, broken);
  }

  /** Applies `change` to the breaker (made if need be) and logs a trip or a close. */
  #logged(node: string, service: string, change: (b: Breaker) => void, known?: Breaker): void {
    const breaker = known ?? this.#breaker(node, service);
    const trips = breaker.trips;
    change(breaker);
    if (breaker.trips > trips)
      this.#o.logger?.warn('a node service failed: its breaker is open', {
        node,
        service,
        trips: breaker.trips,
        cooldownMs: Math.round(breaker.openUntilMs - this.#mono()),
      });
    else if (trips > 0 && breaker.trips === 0)
      this.#o.logger?.info('a node service answered again: its breaker is closed', { node, service });
  }

  #breaker(node: string, service: string): Breaker {
    const key = slot(node, service);
    let breaker = this.#breakers.get(key);
    if (breaker === undefined) this.#breakers.set(key, (breaker = new Breaker(this.#o.breaker, this.#mono)));
    return breaker;
  }
}

function slot(node: string, service: string): string {
  return `${node}\0${service}`;
}
