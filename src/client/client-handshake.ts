/**
 * The node's side of the control handshake: dial TCP or TLS, send our preamble, read the super
 * node's preamble and challenge, prove we hold the token (it never goes on the wire), read welcome.
 * One deadline covers it all; an AbortSignal stops it early.
 */
import fs from 'node:fs';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { ErrorCodes, ProximaError } from '../errors.js';
import { loginProof, parseToken } from '../proto/control/auth.js';
import {
  decodePreamble,
  encodeMessage,
  encodePreamble,
  looksLikeTls,
  MessageDecoder,
  PREAMBLE_BYTES,
  PROTOCOL_VERSION,
  versionMismatch,
} from '../proto/control/codec.js';
import { type LoginMessage, parseChallenge, parseWelcome, type WelcomeMessage } from '../proto/control/messages.js';
import { SocketReader } from '../streams/socket-reader.js';
import { PACKAGE_VERSION } from '../version.js';
import type { ClientTlsConfig } from './config.js';
import { trustedContext } from './trusted-cas.js';

/** Where to dial and who to log in as. */
export interface ClientHandshakeOptions {
  /** `address`, when set, is dialled instead of `host` (a resolved address of it); TLS still verifies `host`. */
  server: { host: string; port: number; address?: string };
  /** false: plain TCP; {}: TLS trusting Node's and the system's CAs; `ca`: trust that CA file instead; `servername`: verify that name. */
  tls: false | ClientTlsConfig;
  name: string;
  /** The node's token; only an HMAC of it is sent. */
  token: string;
  /** The whole handshake, dial included. */
  timeoutMs: number;
  /** The clock that signs the login, in milliseconds since the epoch. */
  now?: () => number;
  signal?: AbortSignal;
}

/** A logged-in connection, paused, with any bytes that followed `welcome` given back to the socket. */
export interface LoggedIn {
  socket: Duplex;
  welcome: WelcomeMessage;
}

/**
 * Dials and logs in. Rejects with PRX_ERR_AUTH_FAILED (bad token or name), PRX_ERR_VERSION_MISMATCH,
 * PRX_ERR_HANDSHAKE_TIMEOUT, PRX_ERR_CONNECT_FAILED (with the system error as cause), or the code of
 * an `error` the super node sent (PRX_ERR_SERVER_DRAINING, ...).
 */
export async function clientHandshake(options: ClientHandshakeOptions): Promise<LoggedIn> {
  const { keyId } = parseToken(options.token); // a malformed token fails before any connection
  const timeout = new ProximaError(ErrorCodes.HANDSHAKE_TIMEOUT, `no answer from ${where(options)} within ${options.timeoutMs} ms`);
  const socket = dial(options);
  let secured = false;
  socket.once('secureConnect', () => {
    secured = true;
  });
  const reader = new SocketReader(
    socket,
    (cause) =>
      new ProximaError(
        ErrorCodes.CONNECT_FAILED,
        cause === undefined
          ? `${where(options)} closed the connection during the handshake`
          : `cannot connect to ${where(options)}: ${cause.message}`,
        { cause },
      ),
  );
  const timer = setTimeout(() => reader.fail(timeout), options.timeoutMs);
  const onAbort = (): void => reader.fail(abortError(options.signal));
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted === true) onAbort();
  try {
    socket.write(encodePreamble());
    const preamble = await reader.bytes(PREAMBLE_BYTES);
    if (options.tls === false && looksLikeTls(preamble)) throw tlsMismatch(options);
    const version = decodePreamble(preamble);
    if (version !== PROTOCOL_VERSION) throw versionMismatch(version, 'client');
    const decoder = new MessageDecoder();
    const { nonce } = parseChallenge(await reader.next(decoder));
    const timeMs = Math.trunc((options.now ?? Date.now)());
    const login: LoginMessage = {
      type: 'login',
      name: options.name,
      keyId,
      timeMs,
      proof: loginProof(options.token, { nonce, name: options.name, timeMs }),
      clientVersion: PACKAGE_VERSION,
    };
    socket.write(encodeMessage(login));
    const welcome = parseWelcome(await reader.next(decoder));
    if (options.signal?.aborted === true) throw abortError(options.signal);
    reader.release();
    return { socket, welcome };
  } catch (err) {
    reader.release();
    socket.on('error', () => undefined);
    socket.destroy();
    if (!socket.closed) await new Promise((resolve) => socket.once('close', resolve));
    throw options.tls !== false && !secured && tlsRefused(err) ? tlsMismatch(options, err) : err;
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
  }
}

/** What OpenSSL says when the peer's bytes are not TLS, and what Node says when the peer hangs up before its ServerHello. */
const NOT_TLS_CODES: ReadonlySet<unknown> = new Set(['ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG', 'ECONNRESET']);

/** True for a failed TLS dial that looks like a plain port on the other end. */
function tlsRefused(err: unknown): boolean {
  if (!(err instanceof ProximaError) || err.code !== ErrorCodes.CONNECT_FAILED) return false;
  return err.cause === undefined || NOT_TLS_CODES.has((err.cause as { code?: unknown }).code);
}

/** PRX_ERR_TLS_MISMATCH, saying which way to set `tls`. */
function tlsMismatch(options: ClientHandshakeOptions, cause?: unknown): ProximaError {
  const message =
    options.tls === false
      ? `the super node speaks TLS on this port (${where(options)}): set tls: true`
      : `the super node does not speak TLS on this port (${where(options)}): set tls: false`;
  return new ProximaError(ErrorCodes.TLS_MISMATCH, message, { cause });
}

function where(options: ClientHandshakeOptions): string {
  const { host, port, address } = options.server;
  return address === undefined || address === host ? `${host}:${port}` : `${host}:${port} (${address})`;
}

/** Opens the connection; its errors reach the SocketReader. Throws only for an unreadable CA file. */
function dial(options: ClientHandshakeOptions): Duplex {
  const { host, port, address } = options.server;
  if (options.tls === false) return net.connect({ host: address ?? host, port, noDelay: true });
  // Dialling a resolved address, SNI and the certificate check still use the configured name.
  const servername = options.tls.servername ?? (address !== undefined && net.isIP(host) === 0 ? host : undefined);
  const { ca } = options.tls;
  // node:tls is loaded at the first TLS dial, not at start: a node dialling plain TCP never loads it.
  const socket = process.getBuiltinModule('node:tls').connect({
    host: address ?? host,
    port,
    // A `ca` file is read at each dial, so a renewed one is picked up.
    ...(ca === undefined ? { secureContext: trustedContext() } : { ca: readCa(ca) }),
    ...(servername === undefined ? {} : { servername }),
  });
  socket.setNoDelay(true);
  return socket;
}

function readCa(file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new ProximaError(ErrorCodes.CONNECT_FAILED, `cannot read the CA file ${file}: ${(err as Error).message}`, { cause: err });
  }
}

function abortError(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason : new ProximaError(ErrorCodes.CONNECT_FAILED, 'the connection attempt was cancelled');
}
