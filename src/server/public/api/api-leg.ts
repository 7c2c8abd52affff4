/**
 * The leg of a public connection whose requests go to the super node's own API: each request's
 * parsed head and body bytes are handed to the API as a ServedRequest, and its ServedResponse writes
 * straight to the user's socket, framing its bytes itself, so the leg knows where each response ends
 * without parsing it. Pipelined requests are handed over one at a time, each once the answer before
 * it is complete (their bodies wait in their requests meanwhile). It reports to its connection as a
 * NodeLeg does (LegOwner): the bytes, each response's end, a cut, and when the body takes more.
 */
import type { Duplex } from 'node:stream';
import { ErrorCodes, ProximaError } from '../../../errors.js';
import type { HttpRequest, HttpResponse } from '../../../http/exchange.js';
import { nodeHeaders, ServedRequest } from '../../../http/served-request.js';
import { ServedResponse } from '../../../http/served-response.js';
import type { RequestHead } from '../../../proto/http/request-head.js';
import type { SocketPeer } from '../../node-directory.js';
import type { Leg, LegOwner } from '../node-leg.js';

/** What the leg hands requests to (ApiServer). */
export interface ApiService {
  serve(req: HttpRequest, res: HttpResponse): void;
  /** What `Keep-Alive: timeout=` says, in seconds (0: nothing). */
  readonly keepAliveSeconds: number;
}

interface Exchange {
  head: RequestHead;
  req: ServedRequest;
  res: ServedResponse;
  handed: boolean;
}

/** node:http's test of an Expect value it answers with 100 Continue (others get 417). */
const CONTINUE = /(?:^|\W)100-continue(?:$|\W)/i;
const CONTINUE_HEAD = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');

/** The API behind one public connection. */
export class ApiLeg implements Leg {
  done = false;
  full = false;
  /** Requests handed or waiting, in order; the first is the one answered now. */
  readonly #queue: Exchange[] = [];
  /** The request whose body bytes arrive now. */
  #receiving: ServedRequest | undefined;
  /** The user's socket is full: the response answering waits for `resume()`. */
  #clientFull = false;
  readonly #api: ApiService;
  readonly #peer: SocketPeer;
  readonly #owner: LegOwner;

  constructor(api: ApiService, peer: SocketPeer, owner: LegOwner) {
    this.#api = api;
    this.#peer = peer;
    this.#owner = owner;
  }

  get outstanding(): number {
    return this.#queue.length;
  }

  get midResponse(): boolean {
    return this.#queue[0]?.res.started === true;
  }

  get awaitedMethod(): string | undefined {
    return this.#queue[0]?.head.method;
  }

  /** Takes a request: handed to the API now, or once the answers before it are complete. */
  send(head: RequestHead): void {
    const req: ServedRequest = new ServedRequest({
      method: head.method,
      url: head.target,
      headers: nodeHeaders(head.headers),
      remoteAddress: this.#peer.address,
      body: head.framing,
      onRead: () => this.#onRead(req),
    });
    const exchange: Exchange = { head, req, res: undefined as unknown as ServedResponse, handed: false };
    exchange.res = new ServedResponse(
      {
        write: (bytes) => this.#write(exchange, bytes),
        end: (keepAlive) => this.#ended(exchange, keepAlive),
        cut: (started) => this.#cut(exchange, started),
      },
      {
        method: head.method,
        keepAlive: head.keepAlive,
        http10: head.version === '1.0',
        te: head.get('te'),
        keepAliveSeconds: this.#api.keepAliveSeconds,
      },
    );
    this.#receiving = req.complete ? undefined : req;
    this.#queue.push(exchange);
    // Handed after the connection has read what came with the head (the body bytes go to the request).
    if (this.#queue.length === 1) queueMicrotask(() => this.#handNext(exchange));
  }

  /** Body bytes of the request being received, as they came (chunked framing included). */
  write(bytes: Buffer): void {
    const req = this.#receiving;
    if (req === undefined) return;
    if (!req.add(bytes)) this.full = true;
    if (req.complete) this.#receiving = undefined;
  }

  /** The connection is cut: every request and response still here is abandoned. */
  abort(): void {
    this.#abandon();
  }

  /** Nothing more comes; what is still here is abandoned (the connection is closing). */
  retire(): void {
    this.#abandon();
  }

  detach(): Duplex {
    throw new Error('the API never switches protocols');
  }

  cork(): void {}

  uncork(): void {}

  /** The user's socket is full. */
  pause(): void {
    this.#clientFull = true;
  }

  /** The user's socket takes more. */
  resume(): void {
    if (!this.#clientFull) return;
    this.#clientFull = false;
    if (!this.done) this.#queue[0]?.res.drained();
  }

  #abandon(): void {
    if (this.done) return;
    this.done = true;
    this.#receiving = undefined;
    for (const { req, res } of this.#queue) {
      res.abandon();
      req.destroy();
    }
  }

  #hand(exchange: Exchange): void {
    exchange.handed = true;
    const { head, req, res } = exchange;
    const expect = head.version === '1.1' ? req.headers.expect : undefined;
    if (expect !== undefined) {
      if (!CONTINUE.test(expect)) return void res.writeHead(417).end();
      this.#owner.relay(CONTINUE_HEAD);
    }
    this.#api.serve(req, res);
  }

  #write(exchange: Exchange, bytes: Buffer): boolean {
    if (this.done || exchange !== this.#queue[0]) return false;
    this.#owner.relay(bytes);
    return !this.#clientFull;
  }

  #ended(exchange: Exchange, keepAlive: boolean): void {
    if (this.done || exchange !== this.#queue[0]) return;
    this.#queue.shift();
    // As node:http: a body the handler did not read is read and dropped.
    if (!exchange.req.complete) exchange.req.resume();
    this.#owner.complete(keepAlive);
    const next = this.#queue[0];
    if (next !== undefined && !next.handed && !this.done) queueMicrotask(() => this.#handNext(next));
  }

  #handNext(exchange: Exchange): void {
    if (!this.done && this.#queue[0] === exchange && !exchange.handed) this.#hand(exchange);
  }

  #cut(exchange: Exchange, started: boolean): void {
    if (this.done || exchange !== this.#queue[0]) return;
    this.#abandon();
    this.#owner.failed(
      new ProximaError(ErrorCodes.MUX_STREAM_RESET, started ? 'the API cut its answer' : 'the API closed without answering'),
    );
  }

  #onRead(req: ServedRequest): void {
    if (this.full && req === this.#receiving) {
      this.full = false;
      this.#owner.drained();
    }
  }
}
