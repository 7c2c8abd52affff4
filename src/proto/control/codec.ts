/**
 * Framing of control messages: a 4-byte big-endian length, then that many bytes of UTF-8 JSON
 * (one object). Used for the handshake on the raw connection, for the control stream after it,
 * and for the header of every data stream. Both reading and writing enforce MAX_MESSAGE_BYTES.
 *
 * Before the first message each side sends a 5-byte preamble: the magic `PRXM` and the protocol
 * version, so a peer that is not Proxima, or speaks another version, is told so at once.
 */
import { ErrorCodes, ProximaError } from '../../errors.js';

/** `PRXM`: what a Proxima control connection starts with. */
export const MAGIC = Buffer.from('PRXM', 'latin1');

/** The control protocol version this build speaks. Bump on any incompatible change. */
export const PROTOCOL_VERSION = 1;

/** Magic plus one version byte. */
export const PREAMBLE_BYTES = MAGIC.length + 1;

/** Hard cap on one message, both directions (frp uses the same bound). */
export const MAX_MESSAGE_BYTES = 64 * 1024;

const LENGTH_BYTES = 4;

/** The preamble this build sends. */
export function encodePreamble(version = PROTOCOL_VERSION): Buffer {
  return Buffer.concat([MAGIC, Buffer.from([version])]);
}

/**
 * Reads the peer's preamble and returns its version; PRX_ERR_HANDSHAKE_MAGIC when the bytes are
 * not a Proxima preamble (an HTTP request or TLS hello sent to the control port, say).
 */
export function decodePreamble(bytes: Buffer): number {
  if (bytes.length < PREAMBLE_BYTES || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) {
    const hint = looksLikeTls(bytes) ? ' (it looks like TLS: is tls set on one side only?)' : '';
    throw new ProximaError(ErrorCodes.HANDSHAKE_MAGIC, `the peer does not speak the Proxima control protocol${hint}`);
  }
  return bytes[MAGIC.length]!;
}

/**
 * True when `bytes` start like a TLS record: a handshake (0x16, a ClientHello or ServerHello) or an
 * alert (0x15, what a TLS server answers to bytes that are not TLS), then major version 3.
 */
export function looksLikeTls(bytes: Buffer): boolean {
  return (bytes[0] === 0x16 || bytes[0] === 0x15) && (bytes.length < 2 || bytes[1] === 0x03);
}

/** The two ends of a control connection, as the programs users run. */
const PROGRAM = { server: 'proxima-server (the super node)', client: 'proxima-client (the node)' } as const;

/**
 * PRX_ERR_VERSION_MISMATCH for a peer whose preamble carried `peerVersion`, seen from `local`. The
 * message says which program to upgrade: the one that speaks the older version.
 */
export function versionMismatch(peerVersion: number, local: 'server' | 'client'): ProximaError {
  const peer = local === 'server' ? 'client' : 'server';
  const older = peerVersion < PROTOCOL_VERSION ? peer : local;
  return new ProximaError(
    ErrorCodes.VERSION_MISMATCH,
    `protocol version mismatch: this ${local} speaks version ${PROTOCOL_VERSION}, the ${peer} version ${peerVersion}; upgrade ${PROGRAM[older]}`,
  );
}

/** Encodes one message; PRX_ERR_MESSAGE_TOO_LARGE past the cap. */
export function encodeMessage(message: object): Buffer {
  const json = Buffer.from(JSON.stringify(message), 'utf8');
  if (json.length > MAX_MESSAGE_BYTES) {
    throw new ProximaError(ErrorCodes.MESSAGE_TOO_LARGE, `control message of ${json.length} bytes exceeds ${MAX_MESSAGE_BYTES}`);
  }
  const out = Buffer.allocUnsafe(LENGTH_BYTES + json.length);
  out.writeUInt32BE(json.length, 0);
  json.copy(out, LENGTH_BYTES);
  return out;
}

/**
 * Incremental decoder: feed it bytes as they arrive, take whole messages out. The length is
 * checked as soon as its 4 bytes arrive, before anything of the body is buffered.
 */
export class MessageDecoder {
  #pending: Buffer[] = [];
  #pendingBytes = 0;

  readonly #maxBytes: number;

  constructor(maxBytes = MAX_MESSAGE_BYTES) {
    this.#maxBytes = maxBytes;
  }

  /** Bytes received but not yet part of a returned message. */
  get buffered(): number {
    return this.#pendingBytes;
  }

  /**
   * Adds `chunk` and returns the messages it completes, in order, at most `limit` of them: a
   * handshake takes exactly one message and leaves what follows (yamux) in the buffer.
   */
  push(chunk: Buffer, limit = Infinity): Record<string, unknown>[] {
    if (chunk.length > 0) {
      this.#pending.push(chunk);
      this.#pendingBytes += chunk.length;
    }
    const out: Record<string, unknown>[] = [];
    while (out.length < limit) {
      const message = this.#next();
      if (message === undefined) break;
      out.push(message);
    }
    return out;
  }

  /** Takes the bytes left after the last whole message (what follows a handshake, say). */
  takeRest(): Buffer {
    const rest = Buffer.concat(this.#pending);
    this.#pending = [];
    this.#pendingBytes = 0;
    return rest;
  }

  #next(): Record<string, unknown> | undefined {
    if (this.#pendingBytes < LENGTH_BYTES) return undefined;
    const all = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending);
    this.#pending = [all];
    const length = all.readUInt32BE(0);
    if (length > this.#maxBytes) {
      throw new ProximaError(ErrorCodes.MESSAGE_TOO_LARGE, `control message of ${length} bytes exceeds ${this.#maxBytes}`);
    }
    if (all.length < LENGTH_BYTES + length) return undefined;
    const body = all.subarray(LENGTH_BYTES, LENGTH_BYTES + length);
    const rest = all.subarray(LENGTH_BYTES + length);
    this.#pending = rest.length > 0 ? [rest] : [];
    this.#pendingBytes = rest.length;
    return parseObject(body);
  }
}

function parseObject(body: Buffer): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new ProximaError(ErrorCodes.MESSAGE_INVALID, 'control message is not valid JSON', { cause: err });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ProximaError(ErrorCodes.MESSAGE_INVALID, 'control message is not a JSON object');
  }
  return value as Record<string, unknown>;
}
