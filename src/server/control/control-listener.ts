/**
 * The control port, where nodes dial in: TCP, or TLS when configured. Each connection runs the
 * handshake under one deadline; the number of handshakes in progress is capped, so a flood of
 * idle connections cannot pile up. A node that logs in gets a yamux session (role server) on the
 * same socket, handed to `onSession`.
 */

import fs from 'node:fs';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { ErrorCodes, ProximaError } from '../../errors.js';
import { type Logger, silentLogger } from '../../log.js';
import { Session } from '../../mux/index.js';
import { type HandshakeOptions, ServerHandshake } from './handshake.js';

/** Where and how the control port listens. */
export interface ControlListenerOptions extends Omit<HandshakeOptions, 'timeoutMs'> {
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
  /** Handshakes in progress at most; connections beyond are closed at once. */
  maxHandshakes?: number;
  /** A node logged in: its session is now the caller's. */
  onSession(name: string, session: Session): void;
  logger?: Logger;
}

export const DEFAULT_MAX_HANDSHAKES = 1024;

/** The listening control port. Create it with {@link ControlListener.listen}. */
export class ControlListener {
  readonly #options: ControlListenerOptions;
  readonly #logger: Logger;
  readonly #server = net.createServer({ noDelay: true });
  readonly #secureContext: tls.SecureContext | undefined;
  /** Connections still in their handshake, or being refused, with a promise of their socket's end. */
  readonly #pending = new Map<ServerHandshake, { raw: net.Socket; gone: Promise<void> }>();
  readonly #closed: Promise<void>;
  #closing = false;
  #bound = { host: '', port: 0 };

  private constructor(options: ControlListenerOptions) {
    this.#options = options;
    this.#logger = (options.logger ?? silentLogger).child({ component: 'control' });
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
    const max = this.#options.maxHandshakes ?? DEFAULT_MAX_HANDSHAKES;
    if (this.#closing || this.#pending.size >= max) {
      this.#logger.warn('connection refused: too many handshakes in progress', { remote: raw.remoteAddress, max });
      raw.destroy();
      return;
    }
    raw.on('error', () => undefined); // the socket's owner (TLS layer, handshake, session) reports errors
    const socket: Duplex =
      this.#secureContext === undefined ? raw : new tls.TLSSocket(raw, { isServer: true, secureContext: this.#secureContext });
    const o = this.#options;
    const handshake = new ServerHandshake(socket, {
      registry: o.registry,
      timeoutMs: o.handshakeTimeoutMs,
      heartbeatIntervalMs: o.heartbeatIntervalMs,
      publicUrl: o.publicUrl,
    });
    const gone = new Promise<void>((resolve) => raw.once('close', () => resolve()));
    this.#pending.set(handshake, { raw, gone });
    handshake.run().then(
      ({ record, login }) => {
        this.#pending.delete(handshake);
        const session = new Session(socket, {
          role: 'server',
          keepaliveIntervalMs: o.heartbeatIntervalMs,
          keepaliveTimeoutMs: o.heartbeatTimeoutMs,
          closeTimeoutMs: o.closeTimeoutMs,
          logger: this.#logger.child({ node: record.name }),
        });
        socket.resume(); // the handshake left it paused, with any early yamux bytes unshifted
        this.#logger.info('node logged in', { node: record.name, remote: raw.remoteAddress, version: login.clientVersion });
        o.onSession(record.name, session);
      },
      (err: unknown) => {
        this.#logger.debug('handshake failed', { remote: raw.remoteAddress, err });
        // Keep counting it until the refusal is flushed and the socket is gone.
        void gone.then(() => this.#pending.delete(handshake));
      },
    );
  };
}

/** A TLS context from the configured PEM files; PRX_ERR_CONFIG_INVALID when they do not make one. */
function secureContext(files: { cert: string; key: string }): tls.SecureContext {
  try {
    return tls.createSecureContext({ cert: fs.readFileSync(files.cert), key: fs.readFileSync(files.key) });
  } catch (err) {
    throw new ProximaError(ErrorCodes.CONFIG_INVALID, `control.tls: cannot use ${files.cert} and ${files.key}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}
