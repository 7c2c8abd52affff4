/**
 * A stream behind one public connection and the responses on it: a tunnel stream to a node's
 * service (the API is an ApiLeg, src/server/public/api/api-leg.ts, with the same face: Leg). Written
 * with backpressure, read once the other end has said `opened`, each response followed to its end.
 * Once `done`, it reports nothing more.
 */
import type { Duplex } from 'node:stream';
import { ErrorCodes, ProximaError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { noteBytesRead } from '../../runtime/index.js';
import { abortStream, closedCleanly } from '../../streams/stream-relay.js';
import type { NodeStream } from '../node-directory.js';
import type { TunnelObservation } from '../observe/observations.js';
import type { RequestObserver } from '../observe/request-observer.js';
import { type ResponseSink, ResponseTracker } from './response-tracker.js';

/** How long a retired stream may take to finish once our end is sent, before it is reset. */
export const RETIRE_GRACE_MS = 5_000;

/** What a leg reports to its connection: the responses, and how the stream ends. */
export interface LegOwner extends ResponseSink {
  /** The node ended the stream between responses with none awaited: the next request needs a new one. */
  idle(): void;
  /** The stream cannot go on (refused, timed out, reset, a malformed or cut-off response); it was reset. */
  failed(err: unknown): void;
  /** The stream takes writes again after `full`. */
  drained(): void;
}

/** What a connection drives: a NodeLeg (a tunnel stream) or an ApiLeg (the API, in this process). */
export interface Leg {
  /** Nothing more is expected of it: it ended, failed, was aborted, retired or handed over. */
  done: boolean;
  /** The last write filled what takes the request's bytes: stop reading the client until `drained`. */
  full: boolean;
  /** Requests sent whose responses are not complete. */
  readonly outstanding: number;
  /** True while bytes of a response went to the client but not all of it. */
  readonly midResponse: boolean;
  /** The method of the request answered next. */
  readonly awaitedMethod: string | undefined;
  /** Bytes of the current request's body, as received. */
  write(bytes: Buffer): void;
  /** Cuts what is under way; reports nothing more. */
  abort(): void;
  /** Ends gracefully; reports nothing more. */
  retire(): void;
  /** Takes the stream away as a raw pipe (after a 101). */
  detach(): Duplex;
  /** Writes of one turn go together. */
  cork(): void;
  uncork(): void;
  /** The client's socket is full: stop relaying responses until `resume`. */
  pause(): void;
  /** The client's socket takes more (or the leg is parked): relay again. */
  resume(): void;
}

/** One tunnel stream and its responses. */
export class NodeLeg implements Leg {
  readonly stream: Duplex;
  /** Nothing more is expected of it: it ended, failed, was aborted, retired or handed over. */
  done = false;
  /** The last write filled the stream's buffer: stop reading the client until `drained`. */
  full = false;
  readonly #tracker: ResponseTracker;
  /** The observation of the request whose bytes are being sent (its body follows its head). */
  #sending: TunnelObservation | undefined;

  /** Takes over a stream just opened; `upstream` names it in the debug log (a node, or 'api'). */
  readonly #owner: LegOwner;

  constructor({ stream, opened }: NodeStream, owner: LegOwner, logger: Logger, upstream: string, observer?: RequestObserver) {
    this.#owner = owner;
    this.#tracker = new ResponseTracker(owner, observer);
    this.stream = stream;
    stream.on('error', (err) => logger.debug('tunnel stream failed', { err, node: upstream }));
    stream.on('drain', this.#onDrain);
    opened.then(
      () => this.#onOpened(),
      (err) => this.#fail(err),
    );
  }

  /** Requests sent whose responses are not complete. */
  get outstanding(): number {
    return this.#tracker.outstanding;
  }

  /** True while a response head has been relayed but not all of its body. */
  get midResponse(): boolean {
    return this.#tracker.midResponse;
  }

  /** The method of the request answered next. */
  get awaitedMethod(): string | undefined {
    return this.#tracker.awaitedMethod;
  }

  /** Sends a request head; its response is awaited after those before it. `obs`: its observation, when observed. */
  send(head: Buffer, method: string, upgrade: boolean, obs?: TunnelObservation): void {
    this.#tracker.expect(method, upgrade, obs);
    this.#sending = obs;
    this.write(head);
  }

  write(bytes: Buffer): void {
    const obs = this.#sending;
    if (obs !== undefined) obs.bytesIn += bytes.length;
    if (!this.stream.write(bytes)) this.full = true;
  }

  /** Resets the stream (the node's service sees a reset, not an end); reports nothing more. */
  abort(): void {
    this.done = true;
    abortStream(this.stream);
    this.#tracker.abandon();
  }

  /**
   * Reports nothing more, ends our side and drops what still comes; the node's service ends its
   * side in turn. Only once no response is awaited: servers take an end from the client for a
   * cancellation (Node's http server aborts requests in flight, Go's cancels their context). A stream not closed RETIRE_GRACE_MS later is reset: none outlives its use for long.
   */
  retire(): void {
    this.done = true;
    if (!this.stream.destroyed && !this.stream.writableEnded) this.stream.end();
    this.stream.resume();
    if (this.stream.closed) return;
    const timer = setTimeout(() => abortStream(this.stream), RETIRE_GRACE_MS).unref();
    this.stream.once('close', () => clearTimeout(timer));
  }

  cork(): void {
    this.stream.cork();
  }

  uncork(): void {
    this.stream.uncork();
  }

  pause(): void {
    this.stream.pause();
  }

  resume(): void {
    this.stream.resume();
  }

  /** Takes the stream away as a raw pipe: our listeners are removed. */
  detach(): Duplex {
    this.done = true;
    this.stream.off('data', this.#onData).off('drain', this.#onDrain);
    return this.stream;
  }

  #onOpened(): void {
    if (this.done) return;
    const { stream } = this;
    if (stream.destroyed) return this.#fail(stream.errored);
    stream.on('data', this.#onData);
    stream.once('end', this.#onEnd);
    stream.once('close', () => {
      if (!this.done && !closedCleanly(stream))
        this.#fail(stream.errored ?? new ProximaError(ErrorCodes.MUX_STREAM_RESET, 'the tunnel stream was cut'));
    });
  }

  #fail(err: unknown): void {
    if (this.done) return;
    this.abort();
    this.#owner.failed(err);
  }

  readonly #onData = (chunk: Buffer): void => {
    noteBytesRead(chunk.length);
    if (this.done) return;
    try {
      this.#tracker.push(chunk);
    } catch (err) {
      this.#fail(err);
    }
  };

  readonly #onEnd = (): void => {
    if (this.done) return;
    const end = this.#tracker.end(); // may complete a response that ran until the end
    if (this.done) return;
    if (end === 'truncated') this.#fail(new ProximaError(ErrorCodes.HTTP_BAD_RESPONSE, 'the service closed in the middle of a response'));
    else if (this.#tracker.outstanding > 0)
      this.#fail(new ProximaError(ErrorCodes.HTTP_BAD_RESPONSE, 'the service closed without answering'));
    else {
      this.retire();
      this.#owner.idle();
    }
  };

  readonly #onDrain = (): void => {
    this.full = false;
    if (!this.done) this.#owner.drained();
  };
}
