/**
 * One public HTTP connection on the super node. Each request goes where its Host says, pipelined: to
 * a node's service on a tunnel stream (NodeLeg), its head edited and its body passed through as
 * received, or to the API in this process (ApiLeg: the parsed head and the body handed over, the
 * answer written by a response of ours). A direct client's connection is bound by its first request
 * (another upstream after it is 421); a trusted proxy's switches between answers (see TenantBinding,
 * ConnectionLegs). Responses are followed to their end, so that an error page, a close or the next
 * request comes only between them. After a 101 it is a plain two-way pipe. Its states and events
 * are the table in docs/architecture.md, "The public connection"; the handlers are named after them.
 */
import type { Socket } from 'node:net';
import { ErrorCodes, ProximaError } from '../../errors.js';
import type { RequestHead } from '../../proto/http/request-head.js';
import { noteBytesRead } from '../../runtime/index.js';
import { relay } from '../../streams/stream-relay.js';
import type { SocketPeer } from '../node-directory.js';
import { TunnelObservation } from '../observe/observations.js';
import { ClientSocket } from './client-socket.js';
import { ConnectionLegs, type ConnectionSettings } from './connection-legs.js';
import { bodyTimeoutError, ConnectionTimer } from './connection-timer.js';
import { loggedPage, type RenderedPage } from './error-page.js';
import type { Leg } from './node-leg.js';
import { RequestReader } from './request-reader.js';
import { TenantBinding } from './tenant-binding.js';

/**
 * `serving`: requests are read, routed and answered (the timer, the reader and the legs say what is
 * awaited); `closing`: the last answer or page is written and the socket is ending; `piping`: after a
 * 101, a raw two-way pipe.
 */
export type ConnectionState = 'serving' | 'closing' | 'piping';

/** Requests sent ahead of their responses before the connection stops reading more. */
const MAX_PIPELINED = 32;

/** Serves one public connection until it closes; see the file comment. */
export class PublicConnection {
  readonly socket: Socket;
  readonly #client: ClientSocket;
  #state: ConnectionState = 'serving';
  readonly #s: ConnectionSettings;
  readonly #peer: SocketPeer;
  readonly #reader: RequestReader;
  readonly #timer: ConnectionTimer;
  readonly #binding: TenantBinding;
  readonly #legs: ConnectionLegs;
  #requests = 0;
  #draining = false;
  /** The client sent its end (FIN); requests before it are still answered. */
  #clientEnded = false;
  #finalPage: Buffer | undefined;

  constructor(socket: Socket, settings: ConnectionSettings) {
    this.socket = socket;
    this.#client = new ClientSocket(socket);
    this.#s = settings;
    this.#peer = { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
    const trusted = settings.trustedProxies.has(this.#peer.address);
    // A request held while its credential was checked is offered again (and passes), or refused.
    const admitted = (err: unknown, head: RequestHead): void => (err === undefined ? this.#releaseHeld() : void this.#refuse(err, head));
    this.#binding = new TenantBinding(settings, trusted, this.#peer, admitted);
    this.#legs = new ConnectionLegs(settings, this.#peer, trusted, {
      relay: (bytes) => this.#client.write(bytes),
      complete: (keepAlive) => this.#onResponseComplete(keepAlive),
      upgrade: (rest) => this.#onUpgrade(rest),
      idle: () => {
        if (this.#reader.stopped) this.#closeGracefully();
      },
      failed: (err) => this.#onLegFailed(err),
      drained: () => this.#resumeClient(),
    });
    this.#reader = new RequestReader(settings.maxHeadBytes, {
      head: (head) => this.#onHead(head),
      body: (bytes) => this.#leg!.write(bytes),
      end: (head) => this.#onRequestEnd(head),
    });
    this.#timer = new ConnectionTimer(settings, {
      head: () => this.#refuse(new ProximaError(ErrorCodes.HTTP_HEAD_TIMEOUT, 'the request head took too long')),
      idle: () => this.#closeGracefully(),
      body: (total) => this.#failMidRequest(bodyTimeoutError(total, settings.bodyTimeoutMs)),
    });
    socket.on('data', this.#onData).on('end', this.#onClientEnd).on('drain', this.#onClientDrain).on('error', this.#onClientError);
    socket.once('close', this.#onClientClose);
    this.#updateTimer();
  }

  /** Where the connection is in its life (docs/architecture.md, "The public connection"). */
  get state(): ConnectionState {
    return this.#state;
  }

  /** Finishes what is in flight, then closes; an idle connection closes at once. */
  drain(): void {
    this.#draining = true;
    if (this.#state === 'serving' && !this.#reader.midHead && !this.#reader.midBody && this.#outstanding === 0) this.#closeGracefully();
  }

  /** Cuts the connection and its streams at once. */
  destroy(): void {
    this.#client.reset();
    this.#legs.abortAll();
  }

  /** True while its requests go to the API (for the listener's stats). */
  get onApi(): boolean {
    return this.#legs.upstream === 'api';
  }

  /** The leg requests go to now. */
  get #leg(): Leg | undefined {
    return this.#legs.current;
  }

  readonly #onData = (chunk: Buffer): void => {
    noteBytesRead(chunk.length);
    if (this.#state !== 'serving') return; // closing: what the client still sends is dropped
    const leg = this.#leg;
    leg?.cork(); // a head and the body bytes after it go out together
    this.#guarded(() => this.#reader.push(chunk));
    leg?.uncork();
    if (this.#state !== 'serving') return;
    if (this.#reader.holding || this.#leg?.full === true) this.socket.pause();
    this.#updateTimer();
  };

  /** Sends a request on to its upstream; holds it (until the last answer due is out) while answers from another are due. */
  #onHead(head: RequestHead): boolean | 'hold' {
    let sent: true | 'hold';
    try {
      const upstream = this.#binding.route(head);
      if (!this.#binding.admit(upstream, head)) return 'hold';
      sent = this.#legs.send(upstream, head);
    } catch (err) {
      return this.#refuse(err, head);
    }
    if (sent === true) this.#requests++;
    return sent;
  }

  /** Responses awaited. */
  get #outstanding(): number {
    return this.#leg?.outstanding ?? 0;
  }

  #onRequestEnd(head: RequestHead): boolean {
    if (!head.keepAlive || this.#draining) {
      this.#reader.stop();
      return true;
    }
    // An upgrade request waits for its answer: after a 101 the bytes that follow are not HTTP.
    return !head.upgrade && this.#outstanding < MAX_PIPELINED;
  }

  /** Runs a step of the request reader; a malformed request is refused. */
  #guarded(step: () => void): void {
    try {
      step();
    } catch (err) {
      if (this.#reader.midBody) this.#failMidRequest(err);
      else this.#refuse(err);
    }
  }

  readonly #onClientEnd = (): void => {
    if (this.#state !== 'serving') return;
    this.#clientEnded = true;
    if (this.#reader.holding) return; // what is held is read first, then the end
    if (this.#reader.midBody) {
      this.#failMidRequest(new ProximaError(ErrorCodes.HTTP_BAD_REQUEST, 'the client ended its connection in the middle of a body'));
      return;
    }
    this.#reader.stop();
    if (this.#outstanding === 0) this.#closeGracefully();
    else if (this.onApi) {
      // As node:http, which is not half-open, always did: an end cancels the API's work in flight.
      const cut = this.#leg!.midResponse;
      this.#leg!.abort();
      if (cut) this.destroy();
      else this.#closeGracefully();
    } else if (this.#leg!.midResponse) {
      // A client half-closes after its requests, before their answers; an end in the middle of an
      // answer is a user leaving (an SSE reader, a chat stopped). The node's service is reset now,
      // not at its next write, as nginx, Go's and Node's servers cancel on any end.
      this.destroy();
    }
  };

  #resumeClient(): void {
    if (this.#state !== 'serving' || this.#leg?.full === true || this.#reader.holding) return;
    this.socket.resume();
    this.#updateTimer();
  }

  #updateTimer(): void {
    if (this.#state === 'serving') this.#timer.update(this.#reader, this.#outstanding, this.#requests, this.#leg?.full === true);
  }

  readonly #onClientDrain = (): void => {
    if (this.#state === 'serving' && this.#leg !== undefined && !this.#leg.done) this.#leg.resume();
  };

  #onResponseComplete(keepAlive: boolean): void {
    if (!keepAlive) return this.#closeGracefully();
    if (this.#outstanding === 0) {
      if (this.#finalPage !== undefined) return this.#answerAndClose(undefined);
      if (this.#reader.stopped) return this.#closeGracefully();
      if (this.#draining && !this.#reader.midHead && !this.#reader.midBody) return this.#closeGracefully();
    }
    this.#releaseHeld();
  }

  /** Reads on after a hold: the held request first, then the end if the client sent it meanwhile. */
  #releaseHeld(): void {
    if (this.#reader.holding) {
      this.#guarded(() => this.#reader.release());
      if (this.#clientEnded) this.#onClientEnd();
      else this.#resumeClient();
    }
    this.#updateTimer();
  }

  #onUpgrade(rest: Buffer): void {
    const stream = this.#leg!.detach();
    this.#legs.retireParked();
    this.#state = 'piping';
    this.#timer.clear();
    this.socket.off('data', this.#onData).off('end', this.#onClientEnd).off('drain', this.#onClientDrain);
    if (rest.length > 0) this.#client.write(rest);
    const held = this.#reader.takeHeld();
    if (held.length > 0) stream.write(held);
    void relay(this.socket, stream);
  }

  /** Nothing of a response may follow a cut: a relayed head means the client must see a reset. */
  #onLegFailed(err: unknown): void {
    if (this.#state !== 'serving') return;
    if (this.#leg!.midResponse) this.destroy();
    else if (this.#outstanding > 0) this.#answerAndClose(err);
    else this.#closeGracefully();
  }

  /** Refuses at a request boundary (the head never reached the node): the page goes out after the responses due, then the connection closes. */
  #refuse(err: unknown, head?: RequestHead): false {
    if (this.#state !== 'serving') return false;
    this.#reader.stop();
    const page = this.#page(err, head, head?.method === 'HEAD');
    this.#finalPage = page.bytes;
    this.#s.observer?.tunnel(TunnelObservation.refused(page.requestId, head?.host, head?.method, page.status, page.bytes.length));
    if (this.#outstanding === 0) this.#answerAndClose(undefined);
    return false;
  }

  /** Fails a request whose head went to the node but whose body cannot be completed. */
  #failMidRequest(err: unknown): void {
    if (this.#state !== 'serving') return;
    this.#reader.stop();
    this.#leg?.abort();
    const outstanding = this.#outstanding;
    if (outstanding === 0) this.#closeGracefully();
    else if (outstanding === 1 && this.#leg?.midResponse === false) this.#answerAndClose(err);
    else this.destroy();
  }

  /** Writes the pending final page, or the page for `err`, then closes. */
  #answerAndClose(err: unknown): void {
    if (this.#state !== 'serving') return;
    this.#client.write(this.#finalPage ?? this.#page(err, undefined, this.#leg?.awaitedMethod === 'HEAD').bytes);
    this.#closeGracefully();
  }

  #page(err: unknown, head: RequestHead | undefined, headRequest: boolean): RenderedPage {
    return loggedPage(err, this.#binding.pageContext(head, this.#legs.upstream), headRequest, this.#s.logger);
  }

  /** Ends the connection after what was written (see ClientSocket.end). */
  #closeGracefully(): void {
    if (this.#state !== 'serving') return;
    this.#state = 'closing';
    this.#reader.stop();
    this.#timer.clear();
    this.#legs.retireAll();
    this.#client.end();
  }

  readonly #onClientError = (err: Error): void => {
    this.#s.logger.debug('public connection failed', { err });
  };

  readonly #onClientClose = (): void => {
    this.#timer.clear();
    const leg = this.#leg;
    if (this.#state === 'piping') return;
    this.#legs.retireParked();
    if (leg === undefined || leg.done) return;
    // A client gone mid-request cancels it: the node's service sees a reset and stops work.
    if (leg.outstanding > 0 || this.#reader.midBody) leg.abort();
    else leg.retire();
  };
}
