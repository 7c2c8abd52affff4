/**
 * One logged-in node on the super node: its yamux session, its control stream (the first stream
 * the node opens) and what it advertised there. It holds no timer of its own (the session's
 * keepalive is the only one), so thousands of idle nodes cost a socket and a few objects each.
 */
import { type ErrorCode, ErrorCodes, ProximaError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { MuxStream, Session } from '../../mux/index.js';
import { encodeMessage, MessageDecoder } from '../../proto/control/codec.js';
import { parseControlStreamMessage, type ServiceAdvert } from '../../proto/control/messages.js';
import { readFramed } from '../../streams/framed-reader.js';
import { RateLimiter } from '../api-host/rate-limiter.js';
import type { LiveNode, NodeStream, RemotePeer } from '../node-directory.js';
import { LogBudget, type LogBudgetOptions } from './log-budget.js';

/**
 * Why a session ended, set where its end began: the node closed or its connection ended
 * (`closed`), its keepalive went unanswered, a newer login replaced it, its token was revoked or
 * rotated, the super node shut down, or something failed (bad framing, too many invalid messages,
 * an abnormal GoAway from the node). A closed set: metrics use it as a label.
 */
export type SessionCloseReason = 'closed' | 'keepalive_timeout' | 'replaced' | 'revoked' | 'rotated' | 'shutdown' | 'error';

/** Every {@link SessionCloseReason}, for metrics that list their labels up front. */
export const SESSION_CLOSE_REASONS: readonly SessionCloseReason[] = [
  'closed',
  'keepalive_timeout',
  'replaced',
  'revoked',
  'rotated',
  'shutdown',
  'error',
];

/** Opens a stream to a node's service: the data plane's part, injected. */
export type OpenStream = (session: Session, service: string, remote: RemotePeer) => NodeStream;

/** Where a node's control connection comes from, and what its login said. */
export interface LoginPeer {
  address: string;
  /** Null when the client did not say (an older or foreign client). */
  clientVersion: string | null;
}

/** What a node session is given. */
export interface NodeSessionOptions {
  openStream: OpenStream;
  /** Who logged in; unknown when not given (tests). */
  peer?: LoginPeer;
  /** The node advertised its services (the registry records them as last seen). */
  onAdvertise(node: NodeSession): void;
  /** The node takes no new work from now on (it drains, leaves, or its session is closing). */
  onDraining?(node: NodeSession): void;
  logger: Logger;
  /** How many warnings the node can make the server write (tests). */
  logBudget?: LogBudgetOptions;
  /** Invalid control messages tolerated: a burst, then a rate; past it the session is closed (tests). */
  invalidMessages?: { burst: number; perMinute: number };
}

/** A node may send a few messages this server cannot use (a newer node's); a stream of them is abuse. */
export const DEFAULT_INVALID_MESSAGES = { burst: 20, perMinute: 10 };

/** A connected node. It is a {@link LiveNode} once it has advertised and while it is not draining. */
export class NodeSession implements LiveNode {
  readonly name: string;
  readonly session: Session;
  readonly peer: LoginPeer;
  /** When the session was established. */
  readonly connectedAt = new Date();
  #closeReason: SessionCloseReason | undefined;
  #services: readonly ServiceAdvert[] = [];
  #advertised = false;
  #draining = false;
  #control: MuxStream | undefined;
  readonly #options: NodeSessionOptions;
  readonly #warnings: LogBudget;
  readonly #invalid: RateLimiter;
  #cutOff = false;

  constructor(name: string, session: Session, options: NodeSessionOptions) {
    this.name = name;
    this.session = session;
    this.peer = options.peer ?? { address: 'unknown', clientVersion: null };
    this.#options = options;
    this.#warnings = new LogBudget(options.logger, options.logBudget);
    const invalid = options.invalidMessages ?? DEFAULT_INVALID_MESSAGES;
    this.#invalid = new RateLimiter({ ratePerMinute: invalid.perMinute, burst: invalid.burst, maxKeys: 1 });
    session.on('stream', this.#onStream);
    session.once('close', (err) => this.#onClose(err));
    // The node sent GoAway: it is leaving. Let its streams finish, then the socket closes.
    session.on('goaway', () => this.close('closed'));
  }

  get services(): readonly ServiceAdvert[] {
    return this.#services;
  }

  /** True when new streams may be sent to it: it advertised, is not draining, and its session is open. */
  get online(): boolean {
    return this.#advertised && !this.#draining && this.session.isOpen;
  }

  /**
   * Why the session ended or is ending: set by the first close, destroy or failure (undefined while
   * nothing ended it). Final once the session's 'close' has fired ({@link closed} resolved).
   */
  get closeReason(): SessionCloseReason | undefined {
    return this.#closeReason;
  }

  /** Resolves when the session's socket is closed. */
  get closed(): Promise<void> {
    return this.session.closed;
  }

  openStream(service: string, remote: RemotePeer): NodeStream {
    return this.#options.openStream(this.session, service, remote);
  }

  /** Sends `drain` (the super node is shutting down), then closes like {@link close}. */
  drain(reason: string): Promise<void> {
    this.#send({ type: 'drain', reason });
    return this.close('shutdown');
  }

  /** Tells the node why with an `error` message, then closes like {@link close}. */
  closeWith(code: ErrorCode, message: string, reason: SessionCloseReason): Promise<void> {
    this.#send({ type: 'error', code, message });
    return this.close(reason);
  }

  /** Graceful: GoAway, open streams may finish (bounded by the session's close timeout). Idempotent. */
  close(reason: SessionCloseReason = 'closed'): Promise<void> {
    this.#closeReason ??= reason;
    this.#stopTakingWork();
    this.#control?.end();
    return this.session.close();
  }

  /** Abrupt: every stream fails now. `err` (if any) is told to the node first. Idempotent. */
  async destroy(err?: ProximaError, reason: SessionCloseReason = err === undefined ? 'closed' : 'error'): Promise<void> {
    this.#closeReason ??= reason;
    this.#stopTakingWork();
    if (err !== undefined && this.#send({ type: 'error', code: err.code, message: err.message })) {
      // The session frames stream data on the next tick; cutting the streams now would drop it.
      await new Promise((resolve) => setImmediate(resolve));
    }
    return this.session.destroy(err);
  }

  /** Abrupt and silent, without the node being told: the super node stops at once. Idempotent. */
  abort(reason: SessionCloseReason, err?: Error): Promise<void> {
    this.#closeReason ??= reason;
    return this.session.destroy(err);
  }

  /** The socket closed: the reason is final (from whoever ended it, else from how the session ended), and said. */
  #onClose(err: Error | undefined): void {
    this.#warnings.flush('control messages not logged', { node: this.name });
    this.#closeReason ??= reasonOf(err);
    const reason = this.#closeReason;
    const fields = { node: this.name, address: this.peer.address, reason, connectedMs: Date.now() - this.connectedAt.getTime(), err };
    if (reason === 'error') this.#options.logger.warn('node offline', fields);
    else this.#options.logger.info('node offline', fields);
  }

  #stopTakingWork(): void {
    if (this.#draining) return;
    this.#draining = true;
    this.#options.onDraining?.(this);
  }

  /** Writes `message` on the control stream if it is open; true when written. */
  #send(message: object): boolean {
    const control = this.#control;
    if (control === undefined || !control.writable) return false;
    control.write(encodeMessage(message));
    return true;
  }

  readonly #onStream = (stream: MuxStream): void => {
    if (this.#control !== undefined) {
      // Nodes open one stream, the control stream; every other stream is the server's to open.
      stream.destroy();
      return;
    }
    this.#control = stream;
    readFramed(
      stream,
      new MessageDecoder(),
      (raw) => this.#onMessage(raw),
      (err) => void this.destroy(err as ProximaError),
    );
    stream.on('end', () => {
      // The node closed its side: it sends nothing more, so it takes no new work either.
      this.#stopTakingWork();
      stream.end();
    });
    stream.on('error', () => undefined); // the session's 'close' reports why
  };

  #onMessage(raw: Record<string, unknown>): void {
    if (this.#cutOff) return;
    let message;
    try {
      message = parseControlStreamMessage(raw);
    } catch (err) {
      this.#onInvalid(err as ProximaError);
      return;
    }
    if (message.type === 'advertise') {
      const first = !this.#advertised;
      this.#services = message.services;
      this.#advertised = true;
      const services = message.services.map((s) => s.name);
      if (first) {
        const models = message.services.reduce((n, s) => n + (s.models?.length ?? 0), 0);
        const version = this.peer.clientVersion ?? undefined;
        this.#options.logger.info('node online', { node: this.name, address: this.peer.address, services, models, version });
      } else this.#options.logger.debug('node advertised', { node: this.name, services });
      this.#options.onAdvertise(this);
    } else if (message.type === 'drain') {
      this.#stopTakingWork();
      this.#options.logger.info('node draining', { node: this.name, reason: message.reason });
    } else {
      this.#warnings.warn('node reported an error', { node: this.name, code: message.code, message: message.message });
    }
  }

  /** A message this server cannot use (a newer node's, say): say so and keep the session, unless they keep coming. */
  #onInvalid(err: ProximaError): void {
    if (!this.#invalid.take('').allowed) {
      this.#cutOff = true;
      const why = new ProximaError(
        ErrorCodes.TOO_MANY_INVALID_MESSAGES,
        'the node sent too many invalid control messages; the super node closed its session',
      );
      this.#options.logger.warn('node session closed: too many invalid control messages', { node: this.name, last: err });
      void this.destroy(why, 'error');
      return;
    }
    this.#send({ type: 'error', code: err.code, message: err.message });
    this.#warnings.warn('bad control message', { node: this.name, err });
  }
}

/** How a session that nobody closed on purpose ended: from the error its 'close' carried. */
function reasonOf(err: Error | undefined): SessionCloseReason {
  if (err === undefined) return 'closed';
  const code = (err as { code?: unknown }).code;
  if (code === ErrorCodes.MUX_KEEPALIVE_TIMEOUT) return 'keepalive_timeout';
  // The connection dropped (the node's process died, a network cut it): the node is gone, not at fault.
  if (code === ErrorCodes.MUX_CONNECTION_LOST || code === ErrorCodes.MUX_SESSION_CLOSED) return 'closed';
  return 'error';
}
