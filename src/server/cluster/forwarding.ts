/**
 * Requests crossing instances, over peer-link streams (docs/protocol.md "Peer link"). The entry
 * instance writes a `forward` header (the node, then what a node stream's `open` says) and the
 * request at once. For a tunnel connection the holding instance opens the node's stream through its
 * own sessions, so the node's own session and guards apply, answers `opened` or the node's coded
 * `error`, and then pipes raw bytes both ways; a reset on either side resets the other. A stream of
 * the model API (`via: api`) is answered `opened` at once and then carries HTTP requests, kept alive
 * between them, each served by the holder's model API (ForwardedCalls) with a slot of its own.
 */
import { ErrorCodes, ProximaError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { MuxStream, Session } from '../../mux/index.js';
import { encodeMessage, MessageDecoder } from '../../proto/control/codec.js';
import { parseOpen } from '../../proto/control/messages.js';
import { readPrefix } from '../../streams/stream-prefix.js';
import { abortStream, relay } from '../../streams/stream-relay.js';
import { openAnswered } from '../control/node-stream.js';
import type { NodeDirectory, NodeStream, RemotePeer } from '../node-directory.js';

/** How long the holding instance waits for a stream's header. */
export const FORWARD_HEADER_TIMEOUT_MS = 10_000;

/**
 * How long the entry instance waits for `opened`: the holding instance has its own clocks (the
 * node's open timeout, the API's queue wait) and answers with their errors well before this.
 */
export const DEFAULT_FORWARD_OPEN_TIMEOUT_MS = 120_000;

/** The header is small: a node name, a service and the user's address. */
const MAX_FORWARD_HEADER_BYTES = 1024;

/** Serves the API requests of a forwarded stream for `node`'s `service` (the model API's ForwardedCalls). */
export type ServeApi = (stream: MuxStream, node: string, service: string) => void;

/** Opens a stream over a peer link to `node`'s `service`, held by the instance at the other end. */
export function openForwardStream(
  session: Session,
  node: string,
  service: string,
  remote: RemotePeer,
  timeoutMs = DEFAULT_FORWARD_OPEN_TIMEOUT_MS,
): NodeStream {
  const { address: remoteAddress, port: remotePort, tls, via = 'public' } = remote;
  return openAnswered(session, encodeMessage({ type: 'forward', node, service, remoteAddress, remotePort, tls, via }), {
    timeoutMs,
    timeoutMessage: `the instance holding node ${node} did not open ${service} within ${timeoutMs} ms`,
    endedMessage: `the instance holding node ${node} closed the stream without answering`,
  });
}

/** What the holding instance serves forwarded streams with. */
export interface ServeForwardOptions {
  /** This instance's own nodes (NodeSessions): never the cluster directory, so a stream is never forwarded twice. */
  nodes: Pick<NodeDirectory, 'live'>;
  /** Serves streams with `via: api` as HTTP, a slot per request: the node's maxConcurrent holds across instances. */
  serveApi?: ServeApi;
  logger: Logger;
}

/** Serves one stream the peer opened: reads its header, opens the node's stream here, pipes. */
export async function serveForwardStream(stream: MuxStream, o: ServeForwardOptions): Promise<void> {
  stream.on('error', () => undefined);
  const decoder = new MessageDecoder(MAX_FORWARD_HEADER_BYTES);
  let header: { node: string; service: string; remote: RemotePeer };
  try {
    header = await readPrefix(
      stream,
      (chunk) => {
        const [m] = decoder.push(chunk, 1);
        if (m === undefined) return undefined;
        if (m.type !== 'forward' || typeof m.node !== 'string' || m.node.length > 63)
          throw new ProximaError(ErrorCodes.MESSAGE_INVALID, 'a peer stream must start with a forward header');
        const open = parseOpen({ ...m, type: 'open' });
        const remote = { address: open.remoteAddress, port: open.remotePort, tls: open.tls, via: open.via };
        return { value: { node: m.node, service: open.service, remote }, rest: decoder.takeRest() };
      },
      {
        timeoutMs: FORWARD_HEADER_TIMEOUT_MS,
        timeoutError: () => new ProximaError(ErrorCodes.HANDSHAKE_TIMEOUT, 'no forward header in time'),
        endedError: (cause) => new ProximaError(ErrorCodes.MUX_STREAM_RESET, 'the peer closed the stream before its header', { cause }),
      },
    );
  } catch (err) {
    o.logger.debug('peer stream refused', { err });
    refuse(stream, err);
    return;
  }
  const { node, service, remote } = header;
  const live = o.nodes.live(node);
  if (live === undefined) {
    refuse(stream, new ProximaError(ErrorCodes.NODE_OFFLINE, `node ${node} is offline`));
    return;
  }
  if (remote.via === 'api' && o.serveApi !== undefined) {
    // API requests: HTTP on this stream, kept alive, each with a slot and this instance's pool.
    stream.write(encodeMessage({ type: 'opened' }));
    o.serveApi(stream, node, service);
    return;
  }
  let opening: NodeStream;
  try {
    opening = live.openStream(service, remote);
  } catch (err) {
    refuse(stream, err);
    return;
  }
  // The peer gave up before the node answered: the node's stream goes too.
  const onEarlyClose = (): void => abortStream(opening.stream);
  stream.once('close', onEarlyClose);
  try {
    await opening.opened;
  } catch (err) {
    stream.off('close', onEarlyClose);
    refuse(stream, err);
    return;
  }
  stream.off('close', onEarlyClose);
  if (stream.destroyed) {
    abortStream(opening.stream);
    return;
  }
  stream.write(encodeMessage({ type: 'opened' }));
  await relay(stream, opening.stream);
}

/** Answers the peer with the error's code (what the node or this instance said), then ends the stream. */
function refuse(stream: MuxStream, err: unknown): void {
  if (stream.destroyed) return;
  const coded = err instanceof ProximaError ? err : new ProximaError(ErrorCodes.MUX_STREAM_RESET, 'the forwarded stream failed');
  stream.end(encodeMessage({ type: 'error', code: coded.code, message: coded.message }));
  stream.resume();
}
