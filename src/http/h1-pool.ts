/**
 * The super node's HTTP/1.1 client for one service of one node: streams opened on demand (each
 * request waits for its stream's `opened` before it writes), one request at a time on each, idle
 * ones kept `keepAliveMs` for the next request and reused most recent first. `close()` ends idle
 * streams at once and busy ones after their answer; `destroy()` cuts every one. Emits
 * `disconnect` each time a stream is done with.
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import type { CancelSignal } from '../cancel.js';
import { abortStream } from '../streams/stream-relay.js';
import type { Dispatcher, DispatchRequest, DispatchResponse } from './dispatcher.js';
import { H1Connection } from './h1-connection.js';
import { requestHead } from './h1-request.js';

/** A stream being opened: it carries HTTP once `opened` resolves. */
export interface OpeningStream {
  stream: Duplex;
  opened: Promise<unknown>;
}

/** Options of an H1Pool. */
export interface H1PoolOptions {
  /** The Host field of every request. */
  hostHeader: string;
  /** How long an idle stream is kept for the next request. */
  keepAliveMs: number;
  /** Opens a stream to the service; may throw. */
  open(): OpeningStream;
}

/** A request made on a pool that was destroyed, or cut when it was. */
export class ClientDestroyedError extends Error {
  override get name(): string {
    return 'ClientDestroyedError';
  }
}

/** A request made on a pool that is closing. */
export class ClientClosedError extends Error {
  override get name(): string {
    return 'ClientClosedError';
  }
}

/** Streams to one node service. */
export class H1Pool extends EventEmitter implements Dispatcher {
  readonly #options: H1PoolOptions;
  /** Idle connections, the most recently used last, with their keep-alive timers. */
  readonly #idle: H1Connection[] = [];
  readonly #timers = new Map<H1Connection, NodeJS.Timeout>();
  readonly #busy = new Set<H1Connection>();
  /** Streams still opening, and how to fail the request waiting for each. */
  readonly #opening = new Map<Duplex, (err: Error) => void>();
  readonly #events = { onIdle: (c: H1Connection) => this.#onIdle(c), onGone: (c: H1Connection) => this.#onGone(c) };
  #closing = false;
  #destroyed = false;
  #drained: (() => void) | undefined;

  constructor(options: H1PoolOptions) {
    super();
    this.#options = options;
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }

  /** Streams open or opening, for tests and metrics. */
  get connections(): number {
    return this.#idle.length + this.#busy.size + this.#opening.size;
  }

  async request(request: DispatchRequest): Promise<DispatchResponse> {
    if (this.#destroyed) throw new ClientDestroyedError('the pool was destroyed');
    if (this.#closing) throw new ClientClosedError('the pool is closed');
    const { signal } = request;
    if (signal?.aborted) throw signal.reason;
    const head = requestHead(request, this.#options.hostHeader);
    const idle = this.#idle.pop();
    if (idle !== undefined) {
      clearTimeout(this.#timers.get(idle));
      this.#timers.delete(idle);
      this.#busy.add(idle);
      return idle.send(head, request);
    }
    const connection = await this.#open(signal);
    return connection.send(head, request);
  }

  /** Ends idle streams now and busy ones after their answer; resolves once none is busy or opening. Idempotent. */
  close(): Promise<void> {
    this.#closing = true;
    for (const connection of this.#idle.splice(0)) this.#forget(connection).end();
    return this.#settled();
  }

  /** Cuts every stream, busy and opening ones too: their requests fail. Idempotent. */
  destroy(): Promise<void> {
    this.#closing = true;
    this.#destroyed = true;
    const err = new ClientDestroyedError('the pool was destroyed');
    for (const connection of this.#idle.splice(0)) this.#forget(connection).destroy(err);
    for (const connection of [...this.#busy]) connection.destroy(err);
    for (const fail of [...this.#opening.values()]) fail(err);
    return this.#settled();
  }

  /** Opens a stream and waits for `opened`; an abort or a destroy meanwhile resets it. */
  #open(signal: CancelSignal | undefined): Promise<H1Connection> {
    const { stream, opened } = this.#options.open();
    return new Promise<H1Connection>((resolve, reject) => {
      const fail = (err: Error): void => {
        if (!this.#opening.delete(stream)) return;
        signal?.removeEventListener('abort', onAbort);
        abortStream(stream);
        reject(err);
        this.#check();
      };
      const onAbort = (): void => fail(signal!.reason as Error);
      this.#opening.set(stream, fail);
      signal?.addEventListener('abort', onAbort, { once: true });
      opened.then(
        () => {
          // Closed as it opened: no 'close' would come again for the connection to see.
          if (stream.destroyed) return fail(new Error('the stream to the node closed as it opened'));
          if (!this.#opening.delete(stream)) return;
          signal?.removeEventListener('abort', onAbort);
          const connection = new H1Connection(stream, this.#events);
          this.#busy.add(connection); // before the caller's turn: a destroy() meanwhile cuts it too
          resolve(connection);
        },
        (err: Error) => fail(err),
      );
    });
  }

  #onIdle(connection: H1Connection): void {
    this.#busy.delete(connection);
    if (this.#closing) {
      connection.end();
    } else {
      this.#idle.push(connection);
      const timer = setTimeout(() => {
        const at = this.#idle.indexOf(connection);
        if (at >= 0) this.#idle.splice(at, 1);
        this.#forget(connection).end();
      }, this.#options.keepAliveMs);
      timer.unref();
      this.#timers.set(connection, timer);
    }
    this.#check();
  }

  #onGone(connection: H1Connection): void {
    this.#busy.delete(connection);
    const at = this.#idle.indexOf(connection);
    if (at >= 0) this.#idle.splice(at, 1);
    this.#forget(connection);
    this.emit('disconnect');
    this.#check();
  }

  #forget(connection: H1Connection): H1Connection {
    clearTimeout(this.#timers.get(connection));
    this.#timers.delete(connection);
    return connection;
  }

  #settled(): Promise<void> {
    if (this.#busy.size === 0 && this.#opening.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const before = this.#drained;
      this.#drained = () => {
        before?.();
        resolve();
      };
    });
  }

  #check(): void {
    if (!this.#closing || this.#busy.size > 0 || this.#opening.size > 0) return;
    const drained = this.#drained;
    this.#drained = undefined;
    drained?.();
  }
}
