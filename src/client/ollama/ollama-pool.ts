/**
 * The node's TCP connections to its local Ollama, kept alive between requests: plain sockets from
 * node:net, no HTTP library (the guard speaks HTTP/1.1 on them itself, ollama-call.ts). A socket
 * waiting for its next request is watched: when Ollama closes it (it restarted), it leaves the pool
 * at once, so a request is never written to a socket already known to be closed. A request is not
 * retried on another socket when one fails after being written: Ollama may have acted on it
 * (docs/performance-notes.md, "Memory of the node and the super node").
 */
import net from 'node:net';
import type { HostPort } from '../../config/values.js';
import { ErrorCodes, ProximaError } from '../../errors.js';
import { connectOptions } from '../../runtime/index.js';

/** Why a request was cut: the signal's reason (a TimeoutError for a time limit), else a plain cancellation. */
export function cancelled(signal: AbortSignal | undefined): Error {
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
}

/** More idle sockets than requests in flight at once on a home GPU; the rest are closed. */
export const DEFAULT_MAX_IDLE_SOCKETS = 16;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** `http://host:port`, brackets around an IPv6 address. */
export function originOf(local: HostPort): string {
  return `http://${local.host.includes(':') ? `[${local.host}]` : local.host}:${local.port}`;
}

/** Sockets to one Ollama. close() lets the sockets in use finish; destroy() cuts them; both idempotent. */
export class OllamaPool {
  readonly origin: string;
  readonly hostHeader: string;
  readonly #local: HostPort;
  readonly #maxIdle: number;
  readonly #connectTimeoutMs: number;
  readonly #idle: net.Socket[] = [];
  readonly #busy = new Set<net.Socket>();
  #closed = false;
  #drained: (() => void) | undefined;

  constructor(target: OllamaTarget, options: OllamaPoolOptions = {}) {
    this.origin = originOf(target.local);
    this.hostHeader = target.hostHeader;
    this.#local = target.local;
    this.#maxIdle = options.maxIdleSockets ?? DEFAULT_MAX_IDLE_SOCKETS;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  }

  /** Whether sockets are kept between requests (the request head says `Connection: close` otherwise). */
  get keepsAlive(): boolean {
    return this.#maxIdle > 0;
  }

  /** Idle sockets held now (tests). */
  get idleSockets(): number {
    return this.#idle.length;
  }

  /** A connected socket for one request: an idle one still open, else a new one. Give it back with release(). */
  acquire(signal?: AbortSignal): Promise<net.Socket> {
    if (this.#closed) return Promise.reject(new ProximaError(ErrorCodes.TARGET_UNREACHABLE, 'the connections to Ollama are closed'));
    for (let socket = this.#idle.pop(); socket !== undefined; socket = this.#idle.pop()) {
      unwatch(socket);
      if (socket.destroyed || socket.readableEnded || !socket.writable) {
        socket.destroy();
        continue;
      }
      socket.ref();
      this.#busy.add(socket);
      return Promise.resolve(socket);
    }
    return this.#dial(signal);
  }

  /** Takes a socket back: kept when `reusable` and there is room, else closed. */
  release(socket: net.Socket, reusable: boolean): void {
    this.#busy.delete(socket);
    const keep =
      reusable &&
      !this.#closed &&
      this.#idle.length < this.#maxIdle &&
      !socket.destroyed &&
      !socket.readableEnded &&
      socket.writableLength === 0;
    if (keep) {
      // A socket waiting for its next request keeps no process alive, and leaves at once when
      // Ollama closes it or sends anything unasked (nothing may come between two answers).
      socket.unref();
      const drop = (): void => {
        const at = this.#idle.indexOf(socket);
        if (at >= 0) this.#idle.splice(at, 1);
        unwatch(socket);
        socket.destroy();
      };
      socket.on('end', drop).on('close', drop).on('error', drop).on('data', drop);
      watchers.set(socket, drop);
      this.#idle.push(socket);
      socket.resume(); // a paused socket would never see Ollama's FIN
    } else socket.destroy();
    if (this.#closed && this.#busy.size === 0) this.#drained?.();
  }

  /** Lets the requests in flight finish, then closes every socket. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const socket of this.#idle.splice(0)) socket.destroy();
    if (this.#busy.size > 0) await new Promise<void>((resolve) => (this.#drained = resolve));
  }

  /** Closes every socket now, those in use included. */
  async destroy(): Promise<void> {
    this.#closed = true;
    for (const socket of this.#idle.splice(0)) socket.destroy();
    for (const socket of this.#busy) socket.destroy();
    this.#busy.clear();
    this.#drained?.();
  }

  #dial(signal: AbortSignal | undefined): Promise<net.Socket> {
    if (signal?.aborted === true) return Promise.reject(cancelled(signal));
    return new Promise((resolve, reject) => {
      const socket = net.connect(connectOptions({ host: this.#local.host, port: this.#local.port, noDelay: true }));
      this.#busy.add(socket);
      const fail = (err: Error): void => {
        done();
        this.release(socket, false);
        reject(err);
      };
      const onAbort = (): void => fail(cancelled(signal));
      const timer = setTimeout(
        () => fail(new ProximaError(ErrorCodes.TARGET_UNREACHABLE, `no connection to ${this.origin} within ${this.#connectTimeoutMs} ms`)),
        this.#connectTimeoutMs,
      );
      const done = (): void => {
        clearTimeout(timer);
        socket.off('error', fail);
        signal?.removeEventListener('abort', onAbort);
      };
      socket.once('error', fail);
      signal?.addEventListener('abort', onAbort, { once: true });
      socket.once('connect', () => {
        done();
        resolve(socket);
      });
    });
  }
}

/** The listener each idle socket is watched with, to take it off when the socket is used again. */
const watchers = new WeakMap<net.Socket, () => void>();

function unwatch(socket: net.Socket): void {
  const drop = watchers.get(socket);
  if (drop === undefined) return;
  watchers.delete(socket);
  socket.off('end', drop).off('close', drop).off('error', drop).off('data', drop);
}
