/** The yamux multiplexer: sessions over any Duplex, streams as Node Duplex streams. */

export { FrameDecoder, type FrameHandler } from './decoder.js';
export { encodeHeader, Flag, type FrameHeader, FrameType, GoAwayCode, HEADER_BYTES, INITIAL_WINDOW_BYTES } from './frame.js';
export { MuxError } from './mux-error.js';
export { DEFAULT_MUX_OPTIONS, type MuxOptions, resolveMuxOptions } from './options.js';
export { Session, type SessionEvents } from './session.js';
export { MuxStream } from './stream.js';
