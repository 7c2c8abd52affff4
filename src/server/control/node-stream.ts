/**
 * The super node's end of one tunnel stream: open a yamux stream to a node, say which service it
 * is for and who is asking, and learn whether the node reached its local service. The caller may
 * write the request at once: it travels behind the `open` header, one round trip instead of two.
 */
import { ErrorCodes, ProximaError } from '../../errors.js';
import type { Session } from '../../mux/index.js';
import { encodeMessage, MessageDecoder } from '../../proto/control/codec.js';
import { parseOpened } from '../../proto/control/messages.js';
import { readPrefix } from '../../streams/stream-prefix.js';
import type { NodeStream, RemotePeer } from '../node-directory.js';

/** How long a node gets to answer `open` when nothing else is said. */
export const DEFAULT_OPEN_TIMEOUT_MS = 10_000;

/** Options of openNodeStream. */
export interface OpenNodeStreamOptions {
  /** How long the node has to answer `open` (it dials its local service meanwhile). */
  openTimeoutMs?: number;
}

/**
 * Opens a stream on `session` to the node's `service` for a public connection from `remote`.
 * `opened` resolves once the node answers `opened`; the bytes after that answer stay in the stream,
 * so its reader sees only the service's raw bytes. It rejects with the node's coded error
 * (PRX_ERR_SERVICE_UNKNOWN, PRX_ERR_TARGET_UNREACHABLE, ...), PRX_ERR_NODE_TIMEOUT, or the stream's
 * PRX_ERR_MUX_* error, and the stream is then destroyed. `opened` never causes an unhandled rejection.
 * Throws PRX_ERR_MUX_GOAWAY, _TOO_MANY_STREAMS or _SESSION_CLOSED when no stream can be opened.
 */
export function openNodeStream(session: Session, service: string, remote: RemotePeer, options: OpenNodeStreamOptions = {}): NodeStream {
  const openTimeoutMs = options.openTimeoutMs ?? DEFAULT_OPEN_TIMEOUT_MS;
  const { address: remoteAddress, port: remotePort, tls, via = 'public' } = remote;
  return openAnswered(session, encodeMessage({ type: 'open', service, remoteAddress, remotePort, tls, via }), {
    timeoutMs: openTimeoutMs,
    timeoutMessage: `the node did not open service ${service} within ${openTimeoutMs} ms`,
    endedMessage: `the node closed the stream for service ${service} without answering`,
  });
}

/** What {@link openAnswered} says when no answer comes. */
export interface AnsweredOptions {
  timeoutMs: number;
  /** PRX_ERR_NODE_TIMEOUT's message. */
  timeoutMessage: string;
  /** PRX_ERR_MUX_STREAM_RESET's message, when the stream ends before an answer. */
  endedMessage: string;
}

/**
 * Opens a stream on `session` that starts with `header` (a node stream's `open`, a peer link's
 * `forward`) and is usable once the far end answers `opened`: the stream, and the promise of that
 * answer, as openNodeStream describes them.
 */
export function openAnswered(session: Session, header: Buffer, o: AnsweredOptions): NodeStream {
  const stream = session.open();
  stream.write(header);
  const decoder = new MessageDecoder();
  const opened = readPrefix(
    stream,
    (chunk) => {
      const [message] = decoder.push(chunk, 1);
      if (message === undefined) return undefined;
      parseOpened(message);
      return { value: undefined, rest: decoder.takeRest() };
    },
    {
      timeoutMs: o.timeoutMs,
      timeoutError: () => new ProximaError(ErrorCodes.NODE_TIMEOUT, o.timeoutMessage),
      endedError: (cause) =>
        cause instanceof ProximaError ? cause : new ProximaError(ErrorCodes.MUX_STREAM_RESET, o.endedMessage, { cause }),
    },
  );
  opened.catch(() => stream.destroy());
  return { stream, opened };
}
