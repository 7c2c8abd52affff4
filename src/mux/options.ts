import { ErrorCodes, ProximaError } from '../errors.js';
import { type Logger, silentLogger } from '../log.js';
import { INITIAL_WINDOW_BYTES } from './frame.js';

/** How a session behaves. Every field has a default; see {@link DEFAULT_MUX_OPTIONS}. */
export interface MuxOptions {
  /** The dialer is the client (odd stream ids), the listener the server (even ids). */
  role: 'client' | 'server';
  /** Largest receive window a stream grows to when its reader keeps up. */
  maxWindowBytes: number;
  /** Largest Data payload sent in one frame: streams are interleaved at this granularity. */
  maxFrameBytes: number;
  /** Most streams open at once; the peer's extra SYNs are answered with RST. */
  maxStreams: number;
  /** Bytes that may wait in the socket's write buffer before the session waits for 'drain'. */
  sendBufferBytes: number;
  /** A ping every this often; 0 disables keepalive. */
  keepaliveIntervalMs: number;
  /** A ping unanswered for this long means the peer is gone: the session is destroyed. */
  keepaliveTimeoutMs: number;
  /** How long close() lets open streams finish before destroying them. */
  closeTimeoutMs: number;
  logger: Logger;
}

export const DEFAULT_MUX_OPTIONS: Omit<MuxOptions, 'role'> = {
  maxWindowBytes: 16 * 1024 * 1024,
  maxFrameBytes: 64 * 1024,
  maxStreams: 4096,
  sendBufferBytes: 1024 * 1024,
  keepaliveIntervalMs: 15_000,
  keepaliveTimeoutMs: 10_000,
  closeTimeoutMs: 30_000,
  logger: silentLogger,
};

const U32 = 0xffff_ffff;

/** Fills defaults and checks ranges; throws PRX_ERR_CONFIG_INVALID naming the first bad field. */
export function resolveMuxOptions(partial: Partial<MuxOptions> & Pick<MuxOptions, 'role'>): MuxOptions {
  const o: MuxOptions = { ...DEFAULT_MUX_OPTIONS, ...partial };
  const check = (ok: boolean, field: string, rule: string): void => {
    if (!ok) throw new ProximaError(ErrorCodes.CONFIG_INVALID, `mux option ${field} ${rule}`);
  };
  check(o.role === 'client' || o.role === 'server', 'role', "must be 'client' or 'server'");
  check(
    Number.isInteger(o.maxWindowBytes) && o.maxWindowBytes >= INITIAL_WINDOW_BYTES && o.maxWindowBytes <= U32,
    'maxWindowBytes',
    `must be an integer from ${INITIAL_WINDOW_BYTES} to ${U32}`,
  );
  check(
    Number.isInteger(o.maxFrameBytes) && o.maxFrameBytes >= 1024 && o.maxFrameBytes <= 16 * 1024 * 1024,
    'maxFrameBytes',
    'must be an integer from 1024 to 16777216',
  );
  check(Number.isInteger(o.maxStreams) && o.maxStreams >= 1, 'maxStreams', 'must be a positive integer');
  check(Number.isInteger(o.sendBufferBytes) && o.sendBufferBytes >= 16 * 1024, 'sendBufferBytes', 'must be at least 16384');
  check(Number.isInteger(o.keepaliveIntervalMs) && o.keepaliveIntervalMs >= 0, 'keepaliveIntervalMs', 'must be >= 0');
  check(Number.isInteger(o.keepaliveTimeoutMs) && o.keepaliveTimeoutMs > 0, 'keepaliveTimeoutMs', 'must be > 0');
  check(Number.isInteger(o.closeTimeoutMs) && o.closeTimeoutMs >= 0, 'closeTimeoutMs', 'must be >= 0');
  return o;
}
