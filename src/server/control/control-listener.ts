/**
 * The control port, where nodes dial in: TCP, or TLS when configured. Each connection runs the
 * handshake under one deadline, and must send its preamble within a shorter one. Handshakes in
 * progress are capped per address and in all; at the cap, the oldest handshake that has not sent
 * its preamble yet is shed to make room, so idle connections held open by one stranger cannot
 * lock nodes out. A node that logs in gets a yamux session (role server) on the same socket,
 * handed to `onSession`.
 */

import fs from 'node:fs';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type tls from 'node:tls';
import { ErrorCodes, ProximaError } from '../../errors.js';
import { type Logger, silentLogger } from '../../log.js';
import { Session } from '../../mux/index.js';
import type { AuthThrottle } from '../api-host/auth-throttle.js';
import { type HandshakeOptions, ServerHandshake } from './handshake.js';
import { LogBudget } from './log-budget.js';
import type { LoginPeer } from './node-session.js';

/** Where and how the control port listens. */
export interface ControlListenerOptions extends Omit<HandshakeOptions, 'timeoutMs' | 'preambleTimeoutMs' | 'remoteAddress'> {
  host: string;
  port: number;
  /** PEM files for TLS; plain TCP without. */
  tls?: { cert: string; key: string };
  handshakeTimeoutMs: number;
  /** yamux keepalive: a ping this often, and how long an answer may take before the session is dead. */
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  /** How long a closing session lets its streams finish. */
  closeTimeoutMs: number;
  /** How long a new connection has to send its preamble (after TLS, when TLS is on). */
  preambleTimeoutMs?: number;
  /** Handshakes in progress at most; beyond, the oldest without a preamble is shed, or the new one closed. */
  maxHandshakes?: number;
  /** Handshakes in progress from one address at most; connections beyond are closed at once. */
  maxHandshakesPerAddress?: number;
  /** Wrong node tokens per address: slowed, then refused. */
  authThrottle?: AuthThrottle;
  /** A node logged in: its session is now the caller's. */
  onSession(name: string, session: Session, peer: LoginPeer): void;
  logger?: Logger;
}

export const DEFAULT_MAX_HANDSHAKES = 1024;
export const DEFAULT_MAX_HANDSHAKES_PER_ADDRESS = 16;
export const DEFAULT_PREAMBLE_TIMEOUT_MS = 3_000;

/** OpenSSL's errors for a first record that is not TLS (a Proxima preamble, an HTTP request). */
const NOT_TLS_CODES: ReadonlySet<unknown> = new Set([
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'ERR_SSL_HTTP_REQUEST',
  'ERR_SSL_PACKET_LENGTH_TOO_LONG',
]);

/** A TLS record: fatal alert, protocol_version (70), in TLS 1.2 record framing. */
const PROTOCOL_VERSION_ALERT = Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46]);

/** One handshake in progress. */
interface Pending {
  raw: net.Socket;
  address: string;
  gone: Promise<void>;
}

/** The listening control port. Create it with {@link ControlListener.listen}. */
export class ControlListener {
  readonly #options: ControlListenerOptions;
  readonly #logger: Logger;
  readonly #server = net.createServer({ noDelay: true });
  readonly #secureContext: tls.SecureContext | undefined;
  /** Connections still in their handshake, or being refused, with a promise of their socket's end. */
  readonly #pending = new Map<ServerHandshake, Pending>();
  /** Handshakes in progress per address. */
  readonly #perAddress = new Map<string, number>();
  /** Refusals are logged within a budget: a flood of connections must not flood the log. */
  readonly #refusals: LogBudget;
  readonly #closed: Promise<void>;
  #closing = false;
  #bound = { host: '', port: 0 };

  private constructor(options: ControlListenerOptions) {
    this.#options = options;
    this.#logger = (options.logger ?? silentLogger).child({ component: 'control' });
    this.#refusals = new LogBudget(this.#logger);
    this.#secureContext = options.tls === undefined ? undefined : secureContext(options.tls);
    this.#closed = new Promise((resolve) => this.#server.once('close', resolve));
    this.#server.on('connection', this.#onConnection);
  }

  /** Starts listening; PRX_ERR_CONFIG_INVALID for unusable TLS files, the system error (wrapped) otherwise. */
  static async listen(options: ControlListenerOptions): Promise<ControlListener> {
    const listener = new ControlListener(options);
    await new Promise<void>((resolve, reject) => {
      listener.#server.once('error', (err) =>
        reject(
          new ProximaError(ErrorCodes.CONFIG_INVALID, `control.listen: cannot listen on ${options.host}:${options.port}: ${err.message}`, {
            cause: err,
          }),
        ),
      );
      listener.#server.listen(options.port, options.host, resolve);
    });
    listener.#server.on('error', (err) => listener.#logger.error('control listener failed', { err }));
    const info = listener.#server.address() as net.AddressInfo;
    listener.#bound = { host: info.address, port: info.port };
    return listener;
  }

  /** The address actually bound (the port is real when 0 was asked for); still known after close. */
  address(): { host: string; port: number } {
    return { ...this.#bound };
  }

  /** Handshakes in progress (and refusals still flushing). */
  get handshakes(): number {
    return this.#pending.size;
  }

  /**
   * Stops accepting; handshakes in progress are refused with PRX_ERR_SERVER_DRAINING. Resolves when
   * their sockets are gone. Sessions already handed out are the caller's to close.
   */
  async close(): Promise<void> {
    this.#stop(new ProximaError(ErrorCodes.SERVER_DRAINING, 'the super node is shutting down'));
    await this.#allGone();
  }

  /** Like close, but handshake sockets are destroyed at once. */
  async destroy(): Promise<void> {
    this.#stop(undefined);
    await this.#allGone();
  }

  /** Resolves when the port is closed and every connection it accepted is gone (sessions included). */
  get closed(): Promise<void> {
    return this.#closed;
  }

  #stop(reason: Error | undefined): void {
    if (!this.#closing) {
      this.#closing = true;
      this.#server.close();
    }
    const why = reason ?? new ProximaError(ErrorCodes.SERVER_DRAINING, 'the super node is shutting down');
    for (const [handshake, { raw }] of this.#pending) {
      handshake.abort(why);
      if (reason === undefined) raw.destroy();
    }
  }

  #allGone(): Promise<unknown> {
    return Promise.all([...this.#pending.values()].map((p) => p.gone));
  }

  readonly #onConnection = (raw: net.Socket): void => {
    const o = this.#options;
    const address = raw.remoteAddress ?? 'unknown';
    const refused = this.#closing ? 'the port is closing' : this.#admit(address);
    if (refused !== undefined) {
      this.#refusals.warn('connection refused', { remote: address, why: refused });
      raw.destroy();
      return;
    }
    raw.on('error', () => undefined); // the socket's owner (TLS layer, handshake, session) reports errors
    const socket: Duplex = this.#secureContext === undefined ? raw : this.#tlsSocket(raw, address);
    const handshake = new ServerHandshake(socket, {
      registry: o.registry,
      timeoutMs: o.handshakeTimeoutMs,
      preambleTimeoutMs: o.preambleTimeoutMs ?? DEFAULT_PREAMBLE_TIMEOUT_MS,
      heartbeatIntervalMs: o.heartbeatIntervalMs,
      publicUrl: o.publicUrl,
      welcomeUrls: o.welcomeUrls,
      authThrottle: o.authThrottle,
      remoteAddress: address,
    });
    const gone = new Promise<void>((resolve) => raw.once('close', () => resolve()));
    this.#pending.set(handshake, { raw, address, gone });
    this.#perAddress.set(address, (this.#perAddress.get(address) ?? 0) + 1);
    handshake.run().then(
      ({ record, login }) => {
        this.#forget(handshake);
        const session = new Session(socket, {
          role: 'server',
          keepaliveIntervalMs: o.heartbeatIntervalMs,
          keepaliveTimeoutMs: o.heartbeatTimeoutMs,
          closeTimeoutMs: o.closeTimeoutMs,
          logger: this.#logger.child({ node: record.name }),
        });
        socket.resume(); // the handshake left it paused, with any early yamux bytes unshifted
        this.#logger.info('node logged in', { node: record.name, remote: raw.remoteAddress, version: login.clientVersion });
        o.onSession(record.name, session, { address, clientVersion: login.clientVersion });
      },
      (err: unknown) => {
        this.#logger.debug('handshake failed', { remote: raw.remoteAddress, err });
        if (err instanceof ProximaError && err.code === ErrorCodes.HANDSHAKE_MAGIC && /looks like TLS/.test(err.message)) {
          this.#refusals.warn('a node spoke TLS to this plain control port: set tls: false in its client.yaml, or give control.tls', {
            remote: address,
          });
        }
        // Keep counting it until the refusal is flushed and the socket is gone.
        void gone.then(() => this.#forget(handshake));
      },
    );
  };

  /**
   * The TLS side of an accepted connection. A node that does not speak TLS gets a TLS alert
   * (protocol_version) and the connection ends: its client sees the alert and says "set tls: true".
   */
  #tlsSocket(raw: net.Socket, address: string): tls.TLSSocket {
    const socket = new (process.getBuiltinModule('node:tls').TLSSocket)(raw, { isServer: true, secureContext: this.#secureContext! });
    socket.once('error', (err: Error & { code?: string }) => {
      if (!NOT_TLS_CODES.has(err.code)) return;
      this.#refusals.warn('a node connected without TLS to this TLS control port: set tls: true in its client.yaml', { remote: address });
      if (!raw.destroyed) raw.end(PROTOCOL_VERSION_ALERT);
    });
    return socket;
  }

  /**
   * Why a connection from `address` cannot start a handshake now, or undefined when it can. At the
   * global cap the oldest handshake still waiting for its preamble is shed: a node that is logging
   * in has sent its preamble within a round trip, an idle connection never does.
   */
  #admit(address: string): string | undefined {
    const o = this.#options;
    if ((this.#perAddress.get(address) ?? 0) >= (o.maxHandshakesPerAddress ?? DEFAULT_MAX_HANDSHAKES_PER_ADDRESS)) {
      return 'too many handshakes in progress from this address';
    }
    if (this.#pending.size < (o.maxHandshakes ?? DEFAULT_MAX_HANDSHAKES)) return undefined;
    for (const [handshake, { raw }] of this.#pending) {
      if (handshake.speaksProxima || raw.destroyed) continue;
      raw.destroy();
      this.#forget(handshake);
      return undefined;
    }
    return 'too many handshakes in progress';
  }

  /** The handshake is over (or its socket is gone): it no longer counts. */
  #forget(handshake: ServerHandshake): void {
    const pending = this.#pending.get(handshake);
    if (pending === undefined) return;
    this.#pending.delete(handshake);
    const left = (this.#perAddress.get(pending.address) ?? 1) - 1;
    if (left > 0) this.#perAddress.set(pending.address, left);
    else this.#perAddress.delete(pending.address);
  }
}

/** A TLS context from the configured PEM files; PRX_ERR_CONFIG_INVALID when they do not make one. */
function secureContext(files: { cert: string; key: string }): tls.SecureContext {
  try {
    return process.getBuiltinModule('node:tls').createSecureContext({ cert: fs.readFileSync(files.cert), key: fs.readFileSync(files.key) });
  } catch (err) {
    throw new ProximaError(ErrorCodes.CONFIG_INVALID, `control.tls: cannot use ${files.cert} and ${files.key}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}
