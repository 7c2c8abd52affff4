/** The yamux multiplexer: sessions over any Duplex, streams as Node Duplex streams. */
export { Session, type SessionEvents } from './session.js';
export { MuxStream } from './stream.js';
export { MuxError } from './mux-error.js';
export { DEFAULT_MUX_OPTIONS, resolveMuxOptions, type MuxOptions } from './options.js';
export { Flag, FrameType, GoAwayCode, HEADER_BYTES, INITIAL_WINDOW_BYTES, encodeHeader, type FrameHeader } from './frame.js';
export { FrameDecoder, type FrameHandler } from './decoder.js';
