/**
 * One logged-in connection from a node to its super node: after the handshake, a yamux session
 * (role client) on the same socket, with the control stream (stream 1) where the node advertises
 * its services. Every stream the super node opens is handed to `onStream` (the data plane's
 * forwarder). A connection is used once: the client makes a new one after it closes.
 */
import { type ErrorCode, ErrorCodes, ProximaError } from '../errors.js';
import { type Logger, silentLogger } from '../log.js';
import { type MuxStream, Session } from '../mux/index.js';
import { encodeMessage, MessageDecoder } from '../proto/control/codec.js';
import { parseControlStreamMessage, type ServiceAdvert, type WelcomeMessage } from '../proto/control/messages.js';
import { readFramed } from '../streams/framed-reader.js';
import { type ClientHandshakeOptions, clientHandshake } from './client-handshake.js';

/** How to connect, and what to do with the streams the super node opens. */
export interface ControlConnectionOptions extends ClientHandshakeOptions {
  services: readonly ServiceAdvert[];
  /** Gets every stream the super node opens: one per public connection, starting with an `open` header. */
  onStream(stream: MuxStream): void;
  /** How long a ping may go unanswered before the super node counts as gone. */
  keepaliveTimeoutMs?: number;
  /** How often to ping; default: the interval the super node's welcome gives. */
  keepaliveIntervalMs?: number;
  /** close(): how long streams in flight may take to finish. */
  drainTimeoutMs?: number;
  logger?: Logger;
}

export const DEFAULT_KEEPALIVE_TIMEOUT_MS = 10_000;
export const DEFAULT_DRAIN_TIMEOUT_MS = 30_000;

/** A live connection to the super node. Open one with {@link ControlConnection.open}. */
export class ControlConnection {
  readonly welcome: WelcomeMessage;
  readonly session: Session;
  /** Resolves when the session is gone: undefined after a clean close, else why it ended. */
  readonly closed: Promise<Error | undefined>;
  readonly #control: MuxStream;
  readonly #logger: Logger;
  /** What the super node said before it closed (replaced, revoked, draining), if anything. */
  #told: ProximaError | undefined;

  private constructor(session: Session, welcome: WelcomeMessage, options: ControlConnectionOptions) {
    this.session = session;
    this.welcome = welcome;
    this.#logger = options.logger ?? silentLogger;
    this.closed = new Promise((resolve) => session.once('close', (err) => resolve(this.#told ?? err)));
    session.on('stream', (stream) => options.onStream(stream));
    // The super node is going away (draining, or it replaced this session): finish and leave.
    session.on('goaway', () => void this.#leave());
    this.#control = session.open();
    this.#control.on('error', () => undefined); // the session's 'close' says why
    this.#control.on('end', () => this.#control.end());
    readFramed(
      this.#control,
      new MessageDecoder(),
      (raw) => this.#onMessage(raw),
      (err) => void session.destroy(err),
    );
    this.advertise(options.services);
  }

  /** Dials, logs in and starts the session; rejects as {@link clientHandshake} does. */
  static async open(options: ControlConnectionOptions): Promise<ControlConnection> {
    const { socket, welcome } = await clientHandshake(options);
    const session = new Session(socket, {
      role: 'client',
      keepaliveIntervalMs: options.keepaliveIntervalMs ?? welcome.heartbeatIntervalMs,
      keepaliveTimeoutMs: options.keepaliveTimeoutMs ?? DEFAULT_KEEPALIVE_TIMEOUT_MS,
      closeTimeoutMs: options.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS,
      logger: options.logger ?? silentLogger,
    });
    socket.resume(); // the handshake left it paused, with any early yamux bytes unshifted
    return new ControlConnection(session, welcome, options);
  }

  /** Tells the super node which services this node offers now. */
  advertise(services: readonly ServiceAdvert[]): void {
    this.#send({ type: 'advertise', services });
  }

  /**
   * Drains: tells the super node `drain` (it sends no new streams), lets streams in flight finish
   * (bounded by drainTimeoutMs), then closes the session. Idempotent.
   */
  async close(): Promise<void> {
    this.#send({ type: 'drain', reason: 'the node is shutting down' });
    await this.#leave();
  }

  /** Cuts the connection and every stream now. Idempotent. */
  async destroy(err?: Error): Promise<void> {
    await this.session.destroy(err);
  }

  #leave(): Promise<void> {
    this.#control.end();
    return this.session.close();
  }

  #send(message: object): void {
    if (this.#control.writable) this.#control.write(encodeMessage(message));
  }

  #onMessage(raw: Record<string, unknown>): void {
    let message;
    try {
      message = parseControlStreamMessage(raw);
    } catch (err) {
      // A message this node cannot use (a newer super node's, say) changes nothing here.
      this.#logger.warn('unusable control message from the super node', { err });
      return;
    }
    if (message.type === 'drain') {
      this.#told ??= new ProximaError(ErrorCodes.SERVER_DRAINING, `the super node is draining: ${message.reason}`);
      this.#logger.info('the super node is draining', { reason: message.reason });
    } else if (message.type === 'error') {
      this.#told = new ProximaError(message.code as ErrorCode, message.message);
      this.#logger.warn('the super node reported an error', { code: message.code, message: message.message });
    }
    // `advertise` flows from nodes to the super node only; one arriving here is ignored.
  }
}
