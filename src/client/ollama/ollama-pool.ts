/**
 * The node's TCP connections to its local Ollama, kept alive between requests: plain sockets from
 * node:net, no HTTP library (the guard speaks HTTP/1.1 on them itself, ollama-call.ts). A socket
 * waiting for its next request is watched: when Ollama closes it (it restarted), it leaves the pool
 * at once, so a request is never written to a socket already known to be closed. A request is not
 * retried on another socket when one fails after being written: Ollama may have acted on it
 * (docs/performance-notes.md, "Memory of the node and the super node").
 */
import net from 'node:net';
import type { CancelSignal } from '../../cancel.js';
import type { HostPort } from '../../config/values.js';
import { ErrorCodes, ProximaError } from '../../errors.js';
import { connectOptions } from '../../runtime/index.js';

/** Why a request was cut: the signal's reason (a TimeoutError for a time limit), else a plain cancellation. */
export function cancelled(signal: CancelSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason : new ProximaError(ErrorCodes.TARGET_UNREACHABLE, 'the request was cancelled');
}

/** Where an Ollama listens, and the Host it wants. */
export interface OllamaTarget {
  local: HostPort;
  hostHeader: string;
}

/** Options of an OllamaPool. */
export interface OllamaPoolOptions {
  /** Sockets kept for the next request; 0 closes each after its answer. */
  maxIdleSockets?: number;
  /** Dialing Ollama may take this long. */
  connectTimeoutMs?: number;
  /** How often idle sockets no request took since the last time are closed (sweepIdle()). */
  idleSweepMs?: number;
}

/**
 * At most this many idle sockets (node:http's Agent keeps 256 too). The super node sends up to the
 * service's maxConcurrent requests at once (1 to 1024) and a public hostname has no bound: a cap of
 * 16 closed 34 of 50 sockets after each wave of a 50-connection load, and a quarter of the chats
 * dialled Ollama again (docs/performance-notes.md, "The node's connections to Ollama kept").
 * What a load stops using is closed by the sweep instead.
 */
const DEFAULT_MAX_IDLE_SOCKETS = 256;
/** An idle socket left unused through a whole sweep, 15 to 30 s, is closed. */
const DEFAULT_IDLE_SWEEP_MS = 15_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** `http://host:port`, brackets around an IPv6 address. */
function originOf(local: HostPort): string {
  return `http://${local.host.includes(':') ? `[${local.host}]` : local.host}:${local.port}`;
}

/** Whoever uses a pooled socket now: told of what the socket emits. */
export interface SocketUser {
  data(chunk: Buffer): void;
  end(): void;
  error(err: Error): void;
  close(): void;
}

/**
 * A socket of the pool and its user. The socket's listeners are added once, when it is dialled, and
 * call the user of the moment; with none (the socket is idle), anything it emits takes it out of the
 * pool: a FIN or a reset from Ollama, or bytes nobody asked for. Adding and removing four listeners
 * per request cost more than the request's own parsing (a profile of the guard under load).
 */
export class PooledSocket {
  readonly socket: net.Socket;
  user: SocketUser | undefined;

  constructor(socket: net.Socket, idleEvent: (pooled: PooledSocket) => void) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => (this.user === undefined ? idleEvent(this) : this.user.data(chunk)));
    socket.on('end', () => (this.user === undefined ? idleEvent(this) : this.user.end()));
    socket.on('error', (err) => (this.user === undefined ? idleEvent(this) : this.user.error(err)));
    socket.on('close', () => (this.user === undefined ? idleEvent(this) : this.user.close()));
  }

  /** Whether the socket may take another request. */
  get open(): boolean {
    const { socket } = this;
    return !socket.destroyed && !socket.readableEnded && socket.writable;
  }

  /** Drops the socket for good: no user hears of it any more. */
  destroy(): void {
    this.user = undefined;
    this.socket.destroy();
  }
}

/** Sockets to one Ollama. close() lets the sockets in use finish; destroy() cuts them; both idempotent. */
export class OllamaPool {
  readonly origin: string;
  readonly hostHeader: string;
  readonly #local: HostPort;
  readonly #maxIdle: number;
  readonly #connectTimeoutMs: number;
  readonly #idleSweepMs: number;
  readonly #idle: PooledSocket[] = [];
  readonly #busy = new Set<PooledSocket>();
  readonly #onIdleEvent = (pooled: PooledSocket): void => {
    const at = this.#idle.indexOf(pooled);
    if (at >= 0) this.#idle.splice(at, 1);
    if (at >= 0 && at < this.#unused) this.#unused--;
    pooled.destroy();
  };
  /**
   * The fewest idle sockets since the last sweep: the bottom of the stack this deep was not taken
   * since (requests take from the top), so the sweep closes that many. One comparison per request,
   * no clock read.
   */
  #unused = 0;
  #sweeper: NodeJS.Timeout | undefined;
  #closed = false;
  #drained: (() => void) | undefined;
  /** What close() callers wait for while requests are in flight. */
  #closing: Promise<void> | undefined;

  constructor(target: OllamaTarget, options: OllamaPoolOptions = {}) {
    this.origin = originOf(target.local);
    this.hostHeader = target.hostHeader;
    this.#local = target.local;
    this.#maxIdle = options.maxIdleSockets ?? DEFAULT_MAX_IDLE_SOCKETS;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.#idleSweepMs = options.idleSweepMs ?? DEFAULT_IDLE_SWEEP_MS;
  }

  /** Whether sockets are kept between requests (the request head says `Connection: close` otherwise). */
  get keepsAlive(): boolean {
    return this.#maxIdle > 0;
  }

  /** Idle sockets held now (tests). */
  get idleSockets(): number {
    return this.#idle.length;
  }

  /**
   * A connected socket for one request, `user` told of its events: an idle one still open, else a
   * new one. Give it back with release().
   */
  acquire(user: SocketUser, signal?: CancelSignal): Promise<PooledSocket> {
    if (this.#closed) return Promise.reject(new ProximaError(ErrorCodes.TARGET_UNREACHABLE, 'the connections to Ollama are closed'));
    const idle = this.takeIdle(user);
    return idle === undefined ? this.#dial(user, signal) : Promise.resolve(idle);
  }

  /** An idle socket still open, now `user`'s, without waiting for a turn of the microtask queue; else undefined. */
  takeIdle(user: SocketUser): PooledSocket | undefined {
    if (this.#closed) return undefined;
    for (let pooled = this.#idle.pop(); pooled !== undefined; pooled = this.#idle.pop()) {
      if (!pooled.open) {
        pooled.destroy();
        continue;
      }
      if (this.#idle.length < this.#unused) this.#unused = this.#idle.length;
      pooled.socket.ref();
      pooled.user = user;
      this.#busy.add(pooled);
      return pooled;
    }
    this.#unused = 0;
    return undefined;
  }

  /** Takes a socket back: kept when `reusable` and there is room, else closed. */
  release(pooled: PooledSocket, reusable: boolean): void {
    this.#busy.delete(pooled);
    pooled.user = undefined;
    const keep = reusable && !this.#closed && this.#idle.length < this.#maxIdle && pooled.open && pooled.socket.writableLength === 0;
    if (keep) {
      // A socket waiting for its next request keeps no process alive; a paused one would never
      // see Ollama's FIN.
      pooled.socket.unref();
      pooled.socket.resume();
      this.#idle.push(pooled);
      if (this.#sweeper === undefined) {
        this.#sweeper = setInterval(() => this.sweepIdle(), this.#idleSweepMs);
        this.#sweeper.unref();
      }
    } else pooled.destroy();
    if (this.#closed && this.#busy.size === 0) this.#drained?.();
  }

  /** Lets the requests in flight finish, then closes every socket. Idempotent: every caller waits for the same end. */
  close(): Promise<void> {
    this.#closed = true;
    this.#stopSweeping();
    for (const pooled of this.#idle.splice(0)) pooled.destroy();
    if (this.#busy.size === 0) return Promise.resolve();
    this.#closing ??= new Promise<void>((resolve) => (this.#drained = resolve));
    return this.#closing;
  }

  /** Closes every socket now, those in use included: their users hear of it as a close. */
  async destroy(): Promise<void> {
    this.#closed = true;
    this.#stopSweeping();
    for (const pooled of this.#idle.splice(0)) pooled.destroy();
    for (const pooled of this.#busy) pooled.socket.destroy();
    this.#busy.clear();
    this.#drained?.();
  }

  /** Closes the idle sockets no request took since the last sweep (a timer calls it while sockets are idle). */
  sweepIdle(): void {
    for (const pooled of this.#idle.splice(0, this.#unused)) pooled.destroy();
    this.#unused = this.#idle.length;
    if (this.#idle.length === 0) this.#stopSweeping();
  }

  #stopSweeping(): void {
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }

  #dial(user: SocketUser, signal: CancelSignal | undefined): Promise<PooledSocket> {
    if (signal?.aborted === true) return Promise.reject(cancelled(signal));
    return new Promise((resolve, reject) => {
      const socket = net.connect(connectOptions({ host: this.#local.host, port: this.#local.port, noDelay: true }));
      const pooled = new PooledSocket(socket, this.#onIdleEvent);
      this.#busy.add(pooled);
      // Until connected, a failure is the dial's: the user hears of nothing.
      pooled.user = {
        data: () => undefined,
        end: () => undefined,
        error: (err) => fail(err),
        close: () => fail(new ProximaError(ErrorCodes.TARGET_UNREACHABLE, `the connection to ${this.origin} closed`)),
      };
      const fail = (err: Error): void => {
        done();
        this.release(pooled, false);
        reject(err);
      };
      const onAbort = (): void => fail(cancelled(signal));
      const timer = setTimeout(
        () => fail(new ProximaError(ErrorCodes.TARGET_UNREACHABLE, `no connection to ${this.origin} within ${this.#connectTimeoutMs} ms`)),
        this.#connectTimeoutMs,
      );
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      socket.once('connect', () => {
        done();
        pooled.user = user;
        resolve(pooled);
      });
    });
  }
}
