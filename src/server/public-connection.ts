/**
 * One public HTTP connection on the super node. Its first request picks the tenant (or hands the
 * connection to the API server); every request after it must be for the same tenant and goes on
 * the same tunnel stream, pipelined, with its head edited and its body passed through as received.
 * Responses are relayed untouched and followed to their end, so that an error page, a close or the
 * next request comes only between them. After a 101 the connection is a plain two-way pipe.
 */
import type { Socket } from 'node:net';
import { ErrorCodes, ProximaError } from '../errors.js';
import type { Logger } from '../log.js';
import { serializeRequestHead } from '../proto/http-head-edit.js';
import type { RequestHead } from '../proto/http-request-head.js';
import { relay } from '../stream-relay.js';
import { ClientSocket } from './client-socket.js';
import { ConnectionTimer } from './connection-timer.js';
import { errorPage } from './error-page.js';
import { forwardedEdits, remotePeer, type SocketPeer } from './forwarded-headers.js';
import type { Tenant } from './host-route.js';
import { NodeLeg } from './node-leg.js';
import type { NodeDirectory } from './node-directory.js';
import { RequestReader } from './request-reader.js';
import { TenantBinding } from './tenant-binding.js';

/** What every connection of a listener shares. */
export interface ConnectionSettings {
  domain: string;
  directory: NodeDirectory;
  trustProxy: boolean;
  maxHeadBytes: number;
  headTimeoutMs: number;
  idleTimeoutMs: number;
  logger: Logger;
  /** Takes over a connection whose first request is for the API, with every byte read so far. */
  toApi(socket: Socket, bytes: Buffer): void;
}

/** Requests sent ahead of their responses before the connection stops reading more. */
const MAX_PIPELINED = 32;

/** Serves one public connection until it closes; see the file comment. */
export class PublicConnection {
  readonly socket: Socket;
  private readonly client: ClientSocket;
  /** 'http' while requests are read; 'closing' once the last answer is out; or handed on. */
  state: 'http' | 'closing' | 'upgraded' | 'api' = 'http';
  private readonly s: ConnectionSettings;
  private readonly peer: SocketPeer;
  private readonly reader: RequestReader;
  private readonly timer: ConnectionTimer;
  private readonly binding: TenantBinding;
  private leg: NodeLeg | undefined;
  private requests = 0;
  private draining = false;
  private finalPage: Buffer | undefined;

  constructor(socket: Socket, settings: ConnectionSettings) {
    this.socket = socket;
    this.client = new ClientSocket(socket);
    this.s = settings;
    this.peer = { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
    this.binding = new TenantBinding(settings.domain, settings.directory);
    this.reader = new RequestReader(settings.maxHeadBytes, {
      head: (head, rest) => this.onHead(head, rest),
      body: (bytes) => this.leg!.write(bytes),
      end: (head) => this.onRequestEnd(head),
    });
    this.timer = new ConnectionTimer(settings, {
      head: () => this.refuse(new ProximaError(ErrorCodes.HTTP_HEAD_TIMEOUT, 'the request head took too long')),
      idle: () => this.closeGracefully(),
      body: () => this.failMidRequest(new ProximaError(ErrorCodes.HTTP_BODY_TIMEOUT, 'the request body stalled')),
    });
    socket.on('data', this.onData).on('end', this.onClientEnd).on('drain', this.onClientDrain).on('error', this.onClientError);
    socket.once('close', this.onClientClose);
    this.updateTimer();
  }

  /** Finishes what is in flight, then closes; an idle connection closes at once. */
  drain(): void {
    this.draining = true;
    if (this.state === 'http' && !this.reader.midHead && !this.reader.midBody && this.outstanding === 0) this.closeGracefully();
  }

  /** Cuts the connection and its tunnel stream at once. */
  destroy(): void {
    this.client.reset();
    this.leg?.abort();
  }

  // --- requests ---------------------------------------------------------------------------

  private readonly onData = (chunk: Buffer): void => {
    if (this.state !== 'http') return; // closing: what the client still sends is dropped
    const stream = this.leg?.stream;
    stream?.cork(); // a head and the body bytes after it go out together
    this.guarded(() => this.reader.push(chunk));
    stream?.uncork();
    if (this.state !== 'http') return;
    if (this.reader.holding || this.leg?.full === true) this.socket.pause();
    this.updateTimer();
  };

  private onHead(head: RequestHead, rest: Buffer): boolean {
    let bytes: Buffer;
    try {
      const tenant = this.binding.bind(head);
      if (tenant === 'api') return this.handOff(Buffer.concat([head.raw, rest]));
      bytes = serializeRequestHead(head, forwardedEdits(head, this.peer, this.s.trustProxy, tenant.service.hostHeader));
      // A node that reconnected since the last stream has a new session: look it up again.
      if (this.leg === undefined || this.leg.done) this.leg = this.openLeg(this.binding.current(), head);
    } catch (err) {
      return this.refuse(err, head);
    }
    this.requests++;
    this.leg.send(bytes, head.method, head.upgrade);
    return true;
  }

  private openLeg(tenant: Tenant, head: RequestHead): NodeLeg {
    return new NodeLeg(tenant, remotePeer(head, this.peer, this.s.trustProxy), {
      relay: (bytes) => {
        if (!this.client.write(bytes)) this.leg?.stream.pause();
      },
      complete: (keepAlive) => this.onResponseComplete(keepAlive),
      upgrade: (rest) => this.onUpgrade(rest),
      idle: () => {
        if (this.reader.stopped) this.closeGracefully();
      },
      failed: (err) => this.onLegFailed(err),
      drained: () => this.resumeClient(),
    }, this.s.logger);
  }

  /** Responses awaited. */
  private get outstanding(): number {
    return this.leg?.outstanding ?? 0;
  }

  private onRequestEnd(head: RequestHead): boolean {
    if (!head.keepAlive || this.draining) {
      this.reader.stop();
      return true;
    }
    // An upgrade request waits for its answer: after a 101 the bytes that follow are not HTTP.
    return !head.upgrade && this.outstanding < MAX_PIPELINED;
  }

  /** Runs a step of the request reader; a malformed request is refused. */
  private guarded(step: () => void): void {
    try {
      step();
    } catch (err) {
      if (this.reader.midBody) this.failMidRequest(err);
      else this.refuse(err);
    }
  }

  private readonly onClientEnd = (): void => {
    if (this.state !== 'http') return;
    if (this.reader.midBody) {
      this.failMidRequest(new ProximaError(ErrorCodes.HTTP_BAD_REQUEST, 'the client ended its connection in the middle of a body'));
      return;
    }
    this.reader.stop();
    if (this.outstanding === 0) this.closeGracefully();
  };


  private resumeClient(): void {
    if (this.state !== 'http' || this.leg?.full === true || this.reader.holding) return;
    this.socket.resume();
    this.updateTimer();
  }

  private updateTimer(): void {
    if (this.state === 'http') this.timer.update(this.reader, this.outstanding, this.requests, this.leg?.full === true);
  }

  // --- responses --------------------------------------------------------------------------

  private readonly onClientDrain = (): void => {
    if (this.state === 'http' && this.leg !== undefined && !this.leg.done) this.leg.stream.resume();
  };

  private onResponseComplete(keepAlive: boolean): void {
    if (!keepAlive) return this.closeGracefully();
    if (this.outstanding === 0) {
      if (this.finalPage !== undefined) return this.answerAndClose(undefined);
      if (this.reader.stopped) return this.closeGracefully();
      if (this.draining && !this.reader.midHead && !this.reader.midBody) return this.closeGracefully();
    }
    if (this.reader.holding) {
      this.guarded(() => this.reader.release());
      this.resumeClient();
    }
    this.updateTimer();
  }

  private onUpgrade(rest: Buffer): void {
    const stream = this.leg!.detach();
    this.handOver('upgraded');
    if (rest.length > 0) this.client.write(rest);
    const held = this.reader.takeHeld();
    if (held.length > 0) stream.write(held);
    void relay(this.socket, stream);
  }

  /** Nothing of a response may follow a cut: a relayed head means the client must see a reset. */
  private onLegFailed(err: unknown): void {
    if (this.state !== 'http') return;
    if (this.leg!.midResponse) this.destroy();
    else if (this.outstanding > 0) this.answerAndClose(err);
    else this.closeGracefully();
  }

  // --- answers and endings ----------------------------------------------------------------

  /**
   * Refuses at a request boundary (the refused head never reached the node): the page goes out
   * after the responses still due, then the connection closes. Returns false for the reader.
   */
  private refuse(err: unknown, head?: RequestHead): false {
    if (this.state !== 'http') return false;
    this.s.logger.debug('request refused', { err, host: head?.host });
    this.reader.stop();
    this.finalPage = errorPage(err, this.binding.pageContext(head), head?.method === 'HEAD');
    if (this.outstanding === 0) this.answerAndClose(undefined);
    return false;
  }

  /** Fails a request whose head went to the node but whose body cannot be completed. */
  private failMidRequest(err: unknown): void {
    if (this.state !== 'http') return;
    this.reader.stop();
    this.leg?.abort();
    const { outstanding } = this;
    if (outstanding === 0) this.closeGracefully();
    else if (outstanding === 1 && this.leg?.midResponse === false) this.answerAndClose(err);
    else this.destroy();
  }

  /** Writes the pending final page, or the page for `err`, then closes. */
  private answerAndClose(err: unknown): void {
    if (this.state !== 'http') return;
    this.client.write(this.finalPage ?? errorPage(err, this.binding.pageContext(), this.leg?.awaitedMethod === 'HEAD'));
    this.closeGracefully();
  }

  /** Ends the connection after what was written (see ClientSocket.end). */
  private closeGracefully(): void {
    if (this.state !== 'http') return;
    this.state = 'closing';
    this.reader.stop();
    this.timer.clear();
    if (this.leg !== undefined && !this.leg.done) this.leg.retire();
    this.client.end();
  }

  private handOff(bytes: Buffer): false {
    this.handOver('api');
    this.socket.off('error', this.onClientError).off('close', this.onClientClose);
    this.s.toApi(this.socket, bytes);
    return false;
  }

  /** The socket is no longer read as HTTP here: it becomes a raw pipe, or the API server's. */
  private handOver(state: 'upgraded' | 'api'): void {
    this.state = state;
    this.timer.clear();
    this.socket.off('data', this.onData).off('end', this.onClientEnd).off('drain', this.onClientDrain);
  }

  private readonly onClientError = (err: Error): void => {
    this.s.logger.debug('public connection failed', { err });
  };

  private readonly onClientClose = (): void => {
    this.timer.clear();
    const leg = this.leg;
    if (this.state === 'upgraded' || leg === undefined || leg.done) return;
    // A client gone mid-request cancels it: the node's service sees a reset and stops work.
    if (leg.outstanding > 0 || this.reader.midBody) leg.abort();
    else leg.retire();
  };
}
