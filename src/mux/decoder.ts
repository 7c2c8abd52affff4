import { ErrorCodes } from '../errors.js';
import { describeHeader, type FrameHeader, FrameType, HEADER_BYTES, YAMUX_VERSION } from './frame.js';
import { protocolError } from './mux-error.js';

/** Receives what the decoder finds, in wire order. A callback may throw to stop decoding. */
export interface FrameHandler {
  /** Every frame header, before any of its payload. */
  onHeader(header: FrameHeader): void;
  /** A piece of a Data frame's payload, as a view of the input (not copied). */
  onData(header: FrameHeader, chunk: Buffer): void;
  /** After the last payload byte of a frame; at once for frames without payload. */
  onFrameEnd(header: FrameHeader): void;
}

/**
 * Turns a byte stream into frames, however the bytes are split. Only a header split across
 * chunks is copied (into 12 bytes of scratch); payload is handed on as views of the input as soon
 * as it arrives, so a large frame is never buffered whole.
 */
export class FrameDecoder {
  readonly #scratch = Buffer.alloc(HEADER_BYTES);
  #scratchBytes = 0;
  #current: FrameHeader | null = null;
  #remaining = 0;
  #stopped = false;

  readonly #handler: FrameHandler;

  constructor(handler: FrameHandler) {
    this.#handler = handler;
  }

  /** Stops decoding; later input is ignored. */
  stop(): void {
    this.#stopped = true;
  }

  /** Decodes `chunk`. Throws a MuxError (with a GoAway code) on a malformed header. */
  push(chunk: Buffer): void {
    let offset = 0;
    const end = chunk.length;
    while (offset < end && !this.#stopped) {
      const frame = this.#current;
      if (frame !== null) {
        const take = Math.min(this.#remaining, end - offset);
        this.#remaining -= take;
        this.#handler.onData(frame, chunk.subarray(offset, offset + take));
        offset += take;
        if (this.#remaining === 0) this.#finishFrame(frame);
        continue;
      }
      let header: FrameHeader;
      if (this.#scratchBytes === 0 && end - offset >= HEADER_BYTES) {
        header = parseHeader(chunk, offset);
        offset += HEADER_BYTES;
      } else {
        const take = Math.min(HEADER_BYTES - this.#scratchBytes, end - offset);
        chunk.copy(this.#scratch, this.#scratchBytes, offset, offset + take);
        this.#scratchBytes += take;
        offset += take;
        if (this.#scratchBytes < HEADER_BYTES) return;
        this.#scratchBytes = 0;
        header = parseHeader(this.#scratch, 0);
      }
      this.#handler.onHeader(header);
      if (this.#stopped) return;
      if (header.type === FrameType.Data && header.length > 0) {
        this.#current = header;
        this.#remaining = header.length;
      } else {
        this.#handler.onFrameEnd(header);
      }
    }
  }

  #finishFrame(frame: FrameHeader): void {
    this.#current = null;
    this.#handler.onFrameEnd(frame);
  }
}

/** Parses and checks the 12 header bytes at `offset`. */
export function parseHeader(buf: Buffer, offset: number): FrameHeader {
  const version = buf[offset]!;
  const type = buf[offset + 1]!;
  const header: FrameHeader = {
    type: type as FrameType,
    flags: buf.readUInt16BE(offset + 2),
    streamId: buf.readUInt32BE(offset + 4),
    length: buf.readUInt32BE(offset + 8),
  };
  if (version !== YAMUX_VERSION) {
    throw protocolError(ErrorCodes.MUX_BAD_VERSION, `yamux version ${version} in ${describeHeader(header)}; only 0 is spoken`);
  }
  if (type > FrameType.GoAway) {
    throw protocolError(ErrorCodes.MUX_UNKNOWN_TYPE, `unknown yamux frame type ${type}`);
  }
  return header;
}
