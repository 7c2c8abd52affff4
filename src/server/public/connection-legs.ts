/**
 * The legs of one public connection: the stream its requests go to now, with each request head as
 * its upstream gets it, and, behind a trusted proxy that sends requests for many upstreams on one
 * connection, the streams it used before.
 * Switching happens only between answers: while answers are due on the current stream, a request
 * for another upstream waits ('hold'). The stream left is parked, still open and idle, for when the
 * connection comes back to its upstream (nginx alternates between a few hosts on a pooled
 * connection); the oldest parked beyond MAX_PARKED_LEGS is retired. None is reset while it may
 * still answer.
 */
import type { AddressList } from '../../config/access.js';
import { newRequestId, REQUEST_ID_HEADER, requestIdOf } from '../../http/request-id.js';
import type { Logger } from '../../log.js';
import { serializeRequestHead } from '../../proto/http/head-edit.js';
import type { RequestHead } from '../../proto/http/request-head.js';
import { type ServiceGate, takesCredentials } from '../access/service-gate.js';
import type { NodeDirectory, SocketPeer } from '../node-directory.js';
import { TunnelObservation } from '../observe/observations.js';
import type { RequestObserver } from '../observe/request-observer.js';
import { ApiLeg, type ApiService } from './api/api-leg.js';
import { forwardedEdits, remotePeer } from './forwarded-headers.js';
import { type Leg, type LegOwner, NodeLeg } from './node-leg.js';
import { refreshUpstream, sameUpstream, type Upstream } from './tenant-binding.js';

/** Idle streams a connection keeps for upstreams it may come back to. */
export const MAX_PARKED_LEGS = 4;

/** What the connection's owner hears: the current leg's events, with `relay` saying whether the client takes more. */
export interface LegsOwner extends Omit<LegOwner, 'relay'> {
  /** Bytes of a response for the client; false when its socket is full. */
  relay(bytes: Buffer): boolean;
}

/** What the legs of every connection of a listener share. */
export interface LegSettings {
  directory: NodeDirectory;
  logger: Logger;
  /** Where requests for the API host go (ApiServer). */
  api: ApiService;
  /** Hears each finished tunnel request (metrics, access log); absent when nothing observes. */
  observer?: RequestObserver;
}

/** What every connection of a listener shares. */
export interface ConnectionSettings extends LegSettings {
  domain: string;
  maxHeadBytes: number;
  headTimeoutMs: number;
  idleTimeoutMs: number;
  /** A request body's deadline from its head (http.bodyTimeoutMs); none when absent. */
  bodyTimeoutMs?: number;
  /** Peers whose X-Forwarded-* are believed, and whose connections may switch upstream (http.trustProxy). */
  trustedProxies: AddressList;
  /** Every tenant request passes it first. */
  gate: ServiceGate;
}

interface Parked {
  leg: Leg;
  upstream: Upstream;
}

/** The current leg of a connection and its parked ones. */
export class ConnectionLegs {
  /** The leg requests go to now. */
  current: Leg | undefined;
  /** Its upstream, as it was when the leg was opened. */
  upstream: Upstream | undefined;
  readonly #parked: Parked[] = [];
  readonly #owner: LegsOwner;
  readonly #peer: SocketPeer;
  readonly #s: LegSettings;
  /** The peer is a trusted proxy: its forwarded headers are believed. */
  readonly #trusted: boolean;

  constructor(s: LegSettings, peer: SocketPeer, trusted: boolean, owner: LegsOwner) {
    this.#owner = owner;
    this.#peer = peer;
    this.#s = s;
    this.#trusted = trusted;
  }

  /**
   * Sends the request `head` on to `upstream`, its head edited for a node (the API takes the parsed
   * head as it came); or returns 'hold' (see `legFor`). Throws as `legFor` does.
   */
  send(upstream: Upstream, head: RequestHead): true | 'hold' {
    const leg = this.#legFor(upstream, head);
    if (leg === 'hold') return leg;
    const to = this.upstream!;
    if (leg instanceof ApiLeg) leg.send(head);
    else if (leg instanceof NodeLeg && to !== 'api') {
      const edits = forwardedEdits(head, this.#peer, this.#trusted, to.service.hostHeader);
      // The credential was for the super node (ServiceGate), not for the service behind it.
      if (takesCredentials(to.service)) edits.remove = ['Authorization'];
      leg.send(
        serializeRequestHead(head, edits),
        head.method,
        head.upgrade,
        this.#s.observer && observation(head, this.#s.observer.ids, to.node.name, to.service.name),
      );
    }
    return true;
  }

  /**
   * The leg for a request to `upstream`: the current one when it goes there and is usable; 'hold'
   * while answers are due on the current one for another upstream; else a parked one for the same
   * upstream, or a new one. Throws the directory's error (the node went offline) or the mux's
   * (its session takes no new stream).
   */
  #legFor(upstream: Upstream, head: RequestHead): Leg | 'hold' {
    const { current } = this;
    if (current !== undefined) {
      if (sameUpstream(upstream, this.upstream!)) {
        if (!current.done) return current;
      } else {
        if (!current.done && current.outstanding > 0) return 'hold';
        this.#park(current, this.upstream!);
        const parked = this.#unpark(upstream);
        if (parked !== undefined) return parked;
      }
    }
    // A node that reconnected since has a new session: look it up again.
    const fresh = refreshUpstream(upstream, this.#s.directory);
    const leg = this.#openLeg(fresh, head);
    this.current = leg;
    this.upstream = fresh;
    return leg;
  }

  /** Ends every leg gracefully (see NodeLeg.retire); the current one too. */
  retireAll(): void {
    if (this.current !== undefined && !this.current.done) this.current.retire();
    this.retireParked();
  }

  /** Retires the parked legs only (the current one is being aborted or handed over). */
  retireParked(): void {
    for (const { leg } of this.#parked.splice(0)) leg.retire();
  }

  /** Resets every leg at once. */
  abortAll(): void {
    this.current?.abort();
    for (const { leg } of this.#parked.splice(0)) leg.abort();
  }

  #park(leg: Leg, upstream: Upstream): void {
    this.current = undefined;
    this.upstream = undefined;
    if (leg.done) return;
    // Flowing, so that an end from the node (it closed an idle connection) is noticed.
    leg.resume();
    this.#parked.push({ leg, upstream });
    if (this.#parked.length > MAX_PARKED_LEGS) this.#parked.shift()!.leg.retire();
  }

  /** The parked leg for `upstream`, made current; undefined if there is none still on the node's live session. */
  #unpark(upstream: Upstream): Leg | undefined {
    const i = this.#parked.findIndex((p) => sameUpstream(p.upstream, upstream));
    if (i < 0) return undefined;
    const [{ leg, upstream: was }] = this.#parked.splice(i, 1) as [Parked];
    if (was !== 'api' && this.#s.directory.live(was.node.name) !== was.node) {
      leg.retire(); // the node reconnected: its old session is going away
      return undefined;
    }
    this.current = leg;
    this.upstream = was;
    return leg;
  }

  #openLeg(upstream: Upstream, head: RequestHead): Leg {
    const owner = this.#owner;
    const peer = this.#peer;
    const legOwner: LegOwner = {
      relay: (bytes) => {
        if (!owner.relay(bytes)) leg.pause();
      },
      complete: (keepAlive) => owner.complete(keepAlive),
      upgrade: (rest) => owner.upgrade(rest),
      idle: () => (leg === this.current ? owner.idle() : this.#drop(leg)),
      failed: (err) => (leg === this.current ? owner.failed(err) : this.#drop(leg)),
      drained: () => {
        if (leg === this.current) owner.drained();
      },
    };
    const leg: Leg =
      upstream === 'api'
        ? new ApiLeg(this.#s.api, peer, legOwner)
        : new NodeLeg(
            upstream.node.openStream(upstream.service.name, remotePeer(head, peer, this.#trusted)),
            legOwner,
            this.#s.logger,
            upstream.node.name,
            this.#s.observer,
          );
    return leg;
  }

  /** A parked leg ended or failed: it is done, forget it. */
  #drop(leg: Leg): void {
    const i = this.#parked.findIndex((p) => p.leg === leg);
    if (i >= 0) this.#parked.splice(i, 1);
  }
}

/** A tunnel request's observation, from its head; with `ids` (the access log is on), the id it came with when it is one of ours, else a new one. */
function observation(head: RequestHead, ids: boolean, node: string, service: string): TunnelObservation {
  const requestId = ids ? (requestIdOf(head.get(REQUEST_ID_HEADER)) ?? newRequestId()) : undefined;
  const obs = new TunnelObservation(requestId, head.host, head.method, performance.now());
  obs.node = node;
  obs.service = service;
  return obs;
}
