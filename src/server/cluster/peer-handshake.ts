/**
 * The peer link's handshake (docs/protocol.md "Peer link"): both instances prove they hold the
 * cluster secret without sending it. Each side sends a fresh nonce; each proof is
 * HMAC-SHA256(secret, role ‖ both nonces ‖ both instance ids), so a proof is good for one
 * connection and one direction only (a listener's proof cannot be reflected as a dialer's).
 * The listener proves first; the dialer answers only a listener that proved. Small messages
 * (at most 4 KiB), one deadline for the whole exchange.
 */
import crypto from 'node:crypto';
import type { Duplex } from 'node:stream';
import { ErrorCodes, ProximaError } from '../../errors.js';
import { encodeMessage, MessageDecoder } from '../../proto/control/codec.js';
import { SocketReader } from '../../streams/socket-reader.js';

/** `PRXP` and version 1: what a peer link starts with (a node's control preamble says `PRXM`). */
export const PEER_MAGIC = Buffer.from('PRXP', 'latin1');
export const PEER_VERSION = 1;
const PREAMBLE = Buffer.concat([PEER_MAGIC, Buffer.from([PEER_VERSION])]);

/** A handshake message is small: ids, nonces and proofs. */
export const MAX_PEER_HANDSHAKE_BYTES = 4096;

/** How long the whole handshake may take. */
export const DEFAULT_PEER_HANDSHAKE_TIMEOUT_MS = 5_000;

/** What both sides know. */
export interface PeerHandshakeOptions {
  secret: string;
  /** This instance's id. */
  instance: string;
  /** host:port where this instance's peer link listens (cluster.advertise): the other side may reuse the link. */
  advertise: string;
  timeoutMs?: number;
}

/** Who is on the other side, once proven. */
export interface PeerIdentity {
  instance: string;
  /** Where its own peer listener is (its cluster.advertise). */
  advertise: string;
}

/** The proof of `role` for one exchange: hex HMAC-SHA256 of the cluster secret. */
export function peerProof(
  secret: string,
  role: 'dialer' | 'listener',
  t: { dialerNonce: string; listenerNonce: string; dialer: string; listener: string },
): string {
  const text = ['proxima-peer/1', role, t.dialerNonce, t.listenerNonce, t.dialer, t.listener].join('\n');
  return crypto.createHmac('sha256', secret).update(text).digest('hex');
}

/** Constant-time comparison of two hex proofs. */
function sameProof(a: unknown, b: string): boolean {
  if (typeof a !== 'string' || a.length !== b.length) return false;
  return crypto.timingSafeEqual(Buffer.from(a, 'latin1'), Buffer.from(b, 'latin1'));
}

function nonce(): string {
  return crypto.randomBytes(32).toString('base64url');
}

/** A string field of a handshake message, at most 200 characters. */
function field(m: Record<string, unknown>, key: string): string {
  const v = m[key];
  if (typeof v !== 'string' || v.length === 0 || v.length > 200)
    throw new ProximaError(ErrorCodes.MESSAGE_INVALID, `peer handshake: ${key} must be a short string`);
  return v;
}

function expect(m: Record<string, unknown>, type: string): Record<string, unknown> {
  if (m.type === 'error') throw new ProximaError(ErrorCodes.AUTH_FAILED, `the peer refused the link: ${String(m.message ?? m.code)}`);
  if (m.type !== type) throw new ProximaError(ErrorCodes.MESSAGE_INVALID, `peer handshake: expected ${type}, got ${String(m.type)}`);
  return m;
}

const wrongSecret = (who: string): ProximaError =>
  new ProximaError(
    ErrorCodes.AUTH_FAILED,
    `the ${who}'s proof does not match this instance's cluster.secret (is it the same on every instance?)`,
  );

/** Runs `steps` under one deadline; the reader's bytes past the last message go back to the socket. */
async function withReader<T>(
  socket: Duplex,
  timeoutMs: number,
  steps: (read: () => Promise<Record<string, unknown>>) => Promise<T>,
): Promise<T> {
  const reader = new SocketReader(
    socket,
    (cause) => new ProximaError(ErrorCodes.CONNECT_FAILED, 'the peer closed the link during the handshake', { cause }),
  );
  const timer = setTimeout(
    () => reader.fail(new ProximaError(ErrorCodes.HANDSHAKE_TIMEOUT, `the peer handshake did not complete within ${timeoutMs} ms`)),
    timeoutMs,
  );
  timer.unref();
  try {
    let preambleRead = false;
    return await steps(async () => {
      if (!preambleRead) {
        const preamble = await reader.bytes(PREAMBLE.length);
        if (!preamble.subarray(0, PEER_MAGIC.length).equals(PEER_MAGIC))
          throw new ProximaError(
            ErrorCodes.HANDSHAKE_MAGIC,
            'the peer does not speak the Proxima peer protocol (is cluster.advertise a peer port?)',
          );
        if (preamble[PEER_MAGIC.length] !== PEER_VERSION)
          throw new ProximaError(
            ErrorCodes.VERSION_MISMATCH,
            `peer link version ${preamble[PEER_MAGIC.length]}, this instance speaks ${PEER_VERSION}: run one version on every instance`,
          );
        preambleRead = true;
      }
      return reader.next(new MessageDecoder(MAX_PEER_HANDSHAKE_BYTES));
    });
  } finally {
    clearTimeout(timer);
    reader.release();
  }
}

/** The dialer's side: resolves with the listener's identity once both proofs passed; the socket then carries the mux. */
export function dialerHandshake(socket: Duplex, o: PeerHandshakeOptions): Promise<PeerIdentity> {
  return withReader(socket, o.timeoutMs ?? DEFAULT_PEER_HANDSHAKE_TIMEOUT_MS, async (read) => {
    const dialerNonce = nonce();
    socket.write(
      Buffer.concat([PREAMBLE, encodeMessage({ type: 'hello', instance: o.instance, advertise: o.advertise, nonce: dialerNonce })]),
    );
    const challenge = expect(await read(), 'challenge');
    const t = { dialerNonce, listenerNonce: field(challenge, 'nonce'), dialer: o.instance, listener: field(challenge, 'instance') };
    if (!sameProof(challenge.proof, peerProof(o.secret, 'listener', t))) {
      socket.end(encodeMessage({ type: 'error', code: ErrorCodes.AUTH_FAILED, message: 'wrong cluster secret' }));
      throw wrongSecret('listener');
    }
    socket.write(encodeMessage({ type: 'auth', proof: peerProof(o.secret, 'dialer', t) }));
    expect(await read(), 'ready');
    return { instance: t.listener, advertise: field(challenge, 'advertise') };
  });
}

/**
 * The listener's side. `checked` runs before the listener's proof is computed (the throttle's
 * gate); `onWrongSecret` after a dialer failed its proof (the throttle's count), before the refusal.
 */
export function listenerHandshake(
  socket: Duplex,
  o: PeerHandshakeOptions & { checked?: () => void; onWrongSecret?: () => Promise<void> },
): Promise<PeerIdentity> {
  return withReader(socket, o.timeoutMs ?? DEFAULT_PEER_HANDSHAKE_TIMEOUT_MS, async (read) => {
    const hello = expect(await read(), 'hello');
    o.checked?.();
    const listenerNonce = nonce();
    const t = { dialerNonce: field(hello, 'nonce'), listenerNonce, dialer: field(hello, 'instance'), listener: o.instance };
    const proof = peerProof(o.secret, 'listener', t);
    socket.write(
      Buffer.concat([
        PREAMBLE,
        encodeMessage({ type: 'challenge', instance: o.instance, advertise: o.advertise, nonce: listenerNonce, proof }),
      ]),
    );
    const auth = expect(await read(), 'auth');
    if (!sameProof(auth.proof, peerProof(o.secret, 'dialer', t))) {
      await o.onWrongSecret?.();
      socket.end(encodeMessage({ type: 'error', code: ErrorCodes.AUTH_FAILED, message: 'wrong cluster secret' }));
      throw wrongSecret('dialer');
    }
    socket.write(encodeMessage({ type: 'ready' }));
    return { instance: t.dialer, advertise: field(hello, 'advertise') };
  });
}
