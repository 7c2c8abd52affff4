/**
 * The super node's side of the control handshake on one fresh connection (docs/protocol.md
 * "Handshake"): read the node's preamble, send ours and a challenge, read one login,
 * check it, send welcome. A failure the node can act on is answered with an `error` message before
 * the connection closes; a peer that does not speak Proxima is simply closed.
 */
import type { Duplex } from 'node:stream';
import { type ErrorCode, ErrorCodes, hasCode, ProximaError } from '../../errors.js';
import {
  decodePreamble,
  encodeMessage,
  encodePreamble,
  MessageDecoder,
  PREAMBLE_BYTES,
  PROTOCOL_VERSION,
  versionMismatch,
} from '../../proto/control/codec.js';
import { type ErrorMessage, type LoginMessage, parseLogin, type WelcomeMessage } from '../../proto/control/messages.js';
import { SocketReader } from '../../streams/socket-reader.js';
import { PACKAGE_VERSION } from '../../version.js';
import { type AuthThrottle, admit, failed, ThrottledError } from '../api-host/auth-throttle.js';
import type { NodeRecord } from '../registry/node-store.js';
import type { Registry } from '../registry/registry.js';

/** What a handshake needs from the super node. */
export interface HandshakeOptions {
  registry: Pick<Registry, 'issueNonce' | 'verifyLogin'>;
  /** The whole handshake, from accept to welcome. */
  timeoutMs: number;
  /** From accept to the node's preamble (TLS included): an idle connection is closed after this. */
  preambleTimeoutMs?: number;
  /** Sent in `welcome`, so the node knows how often to expect pings. */
  heartbeatIntervalMs: number;
  /** The node's public address, sent in `welcome`. */
  publicUrl(name: string): string;
  /** The API's URL and the node's service URL template, sent in `welcome` too when given. */
  welcomeUrls?(name: string): { apiUrl: string; serviceUrlTemplate: string };
  /** Wrong node tokens per address: slowed, then refused with PRX_ERR_RATE_LIMITED and the wait. */
  authThrottle?: AuthThrottle;
  /** The peer's address, as the throttle counts it. */
  remoteAddress?: string;
}

/** A node that logged in. */
export interface AcceptedNode {
  record: NodeRecord;
  login: LoginMessage;
}

/** Errors whose code and message the node is told; anything else is answered in general terms. */
const TOLD: ReadonlySet<ErrorCode> = new Set([
  ErrorCodes.AUTH_FAILED,
  ErrorCodes.VERSION_MISMATCH,
  ErrorCodes.HANDSHAKE_TIMEOUT,
  ErrorCodes.MESSAGE_TOO_LARGE,
  ErrorCodes.MESSAGE_INVALID,
  ErrorCodes.SERVER_DRAINING,
  ErrorCodes.RATE_LIMITED,
]);

/** How long a refused connection may take to read our last message before it is destroyed. */
const REFUSE_LINGER_MS = 1_000;

/** One connection's handshake. `run` once; `abort` stops it (the node is told why). */
export class ServerHandshake {
  readonly #socket: Duplex;
  readonly #options: HandshakeOptions;
  readonly #reader: SocketReader;
  #speaksProxima = false;

  constructor(socket: Duplex, options: HandshakeOptions) {
    this.#socket = socket;
    this.#options = options;
    this.#reader = new SocketReader(
      socket,
      (cause) => new ProximaError(ErrorCodes.CONNECT_FAILED, 'the node closed the connection during the handshake', { cause }),
    );
  }

  /** True once the peer's preamble has arrived: it is making progress. */
  get speaksProxima(): boolean {
    return this.#speaksProxima;
  }

  /** Stops the handshake (a shutdown, say): the node gets an `error` with `err`'s code. */
  abort(err: Error): void {
    this.#reader.fail(err);
  }

  /**
   * Resolves once `welcome` is written, with the socket paused and any bytes read past the login
   * given back to it. Rejects with the coded error once the refusal is on its way and the socket
   * is closing.
   */
  async run(): Promise<AcceptedNode> {
    const reader = this.#reader;
    const timer = setTimeout(
      () =>
        reader.fail(new ProximaError(ErrorCodes.HANDSHAKE_TIMEOUT, `the handshake did not complete within ${this.#options.timeoutMs} ms`)),
      this.#options.timeoutMs,
    );
    timer.unref();
    const preambleMs = Math.min(this.#options.preambleTimeoutMs ?? this.#options.timeoutMs, this.#options.timeoutMs);
    // Checked once more after the next poll for I/O: on a loaded machine the deadline's timer can
    // run before the preamble that arrived in time is read.
    const preambleTimer = setTimeout(
      () =>
        setImmediate(() => {
          if (!this.#speaksProxima) reader.fail(new ProximaError(ErrorCodes.HANDSHAKE_TIMEOUT, `no preamble within ${preambleMs} ms`));
        }),
      preambleMs,
    );
    preambleTimer.unref();
    let speaksProxima = false;
    let preambleSent = false;
    try {
      const version = decodePreamble(await reader.bytes(PREAMBLE_BYTES));
      clearTimeout(preambleTimer);
      speaksProxima = true;
      this.#speaksProxima = true;
      if (version !== PROTOCOL_VERSION) throw versionMismatch(version, 'server');
      const address = this.#options.remoteAddress ?? 'unknown';
      admit(this.#options.authThrottle, address, 'node tokens');
      const nonce = this.#options.registry.issueNonce();
      this.#socket.write(Buffer.concat([encodePreamble(), encodeMessage({ type: 'challenge', nonce, serverVersion: PACKAGE_VERSION })]));
      preambleSent = true;
      const login = parseLogin(await reader.next(new MessageDecoder()));
      let record: NodeRecord;
      try {
        record = await this.#options.registry.verifyLogin({ ...login, nonce });
      } catch (err) {
        if (hasCode(err, ErrorCodes.AUTH_FAILED)) await failed(this.#options.authThrottle, address);
        throw err;
      }
      // The store was read asynchronously: the deadline or a shutdown may have passed meanwhile.
      if (reader.failure !== undefined) throw reader.failure;
      const welcome: WelcomeMessage = {
        type: 'welcome',
        name: record.name,
        publicUrl: this.#options.publicUrl(record.name),
        heartbeatIntervalMs: this.#options.heartbeatIntervalMs,
        ...this.#options.welcomeUrls?.(record.name),
      };
      this.#socket.write(encodeMessage(welcome));
      reader.release();
      return { record, login };
    } catch (err) {
      reader.release();
      const told = speaksProxima ? errorMessage(err) : undefined;
      refuse(this.#socket, told === undefined || preambleSent ? told : Buffer.concat([encodePreamble(), told]));
      throw err;
    } finally {
      clearTimeout(timer);
      clearTimeout(preambleTimer);
    }
  }
}

/**
 * The `error` message a failed handshake is answered with. Store errors name files and such: the
 * node learns the code only. A bug (not a ProximaError) gets no message: the node sees the
 * connection close, and tries again later.
 */
function errorMessage(err: unknown): Buffer | undefined {
  if (!(err instanceof ProximaError)) return undefined;
  const message = TOLD.has(err.code) ? err.message : 'the super node cannot check logins right now; try again later';
  const error: ErrorMessage = { type: 'error', code: err.code, message };
  if (err instanceof ThrottledError) error.retryAfterMs = err.retryAfterMs;
  return encodeMessage(error);
}

/** Sends `last` (if any) and closes; a peer that does not read it is cut off after a short linger. */
function refuse(socket: Duplex, last: Buffer | undefined): void {
  socket.on('error', () => undefined); // a reset while we close changes nothing
  if (socket.destroyed) return;
  if (last === undefined) {
    socket.destroy();
    return;
  }
  socket.end(last);
  socket.resume(); // read and drop whatever else it sends, so its FIN is seen
  const linger = setTimeout(() => socket.destroy(), REFUSE_LINGER_MS);
  linger.unref();
  socket.once('close', () => clearTimeout(linger));
}
