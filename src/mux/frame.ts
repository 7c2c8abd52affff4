/**
 * The yamux frame, as specified in hashicorp/yamux spec.md (docs/protocol.md "yamux frames"). Every frame starts with a 12-byte
 * header, all integers big-endian:
 *
 *   version (1) | type (1) | flags (2) | stream id (4) | length (4)
 *
 * `length` is the payload size for Data frames, the window delta for WindowUpdate, the opaque
 * value for Ping and the error code for GoAway; only Data frames carry a payload.
 */

/** The only version the spec defines. */
export const YAMUX_VERSION = 0;

/** Size of every frame header. */
export const HEADER_BYTES = 12;

/** The window each side of a new stream starts with, fixed by the spec. */
export const INITIAL_WINDOW_BYTES = 256 * 1024;

/** Frame types. */
export const FrameType = {
  /** Carries stream payload; flags may open, acknowledge, half-close or reset the stream. */
  Data: 0,
  /** Grants the peer `length` more bytes of send window; flags as for Data. */
  WindowUpdate: 1,
  /** Liveness and RTT: SYN asks, ACK answers with the same opaque value. Stream id 0. */
  Ping: 2,
  /** The session is ending; `length` is a GoAwayCode. Stream id 0. */
  GoAway: 3,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** Flags, a bitmask valid on every frame type. */
export const Flag = {
  /** Opens a new stream (or asks a ping). */
  SYN: 0x1,
  /** Acknowledges a new stream (or answers a ping). */
  ACK: 0x2,
  /** Half-closes the sender's side of the stream. */
  FIN: 0x4,
  /** Resets the stream at once. */
  RST: 0x8,
} as const;

/** GoAway error codes. */
export const GoAwayCode = {
  Normal: 0,
  ProtocolError: 1,
  InternalError: 2,
} as const;
export type GoAwayCode = (typeof GoAwayCode)[keyof typeof GoAwayCode];

/** A decoded frame header. */
export interface FrameHeader {
  type: FrameType;
  flags: number;
  streamId: number;
  length: number;
}

/** Encodes a frame header into a fresh 12-byte buffer (small allocations come from Node's pool). */
export function encodeHeader(type: FrameType, flags: number, streamId: number, length: number): Buffer {
  const buf = Buffer.allocUnsafe(HEADER_BYTES);
  buf[0] = YAMUX_VERSION;
  buf[1] = type;
  buf.writeUInt16BE(flags, 2);
  buf.writeUInt32BE(streamId, 4);
  buf.writeUInt32BE(length, 8);
  return buf;
}

/** Human-readable frame name for logs and errors. */
export function describeHeader(h: FrameHeader): string {
  const names = ['Data', 'WindowUpdate', 'Ping', 'GoAway'];
  const flags = (['SYN', 'ACK', 'FIN', 'RST'] as const).filter((f) => h.flags & Flag[f]).join('|') || '-';
  return `${names[h.type] ?? h.type}(stream=${h.streamId}, flags=${flags}, length=${h.length})`;
}
