/**
 * Requests crossing instances, one peer-link stream each (docs/protocol.md "Peer link"). The entry
 * instance writes a `forward` header (the node, then what a node stream's `open` says) and the
 * request at once; the holding instance opens the stream through its own sessions, so the node's
 * own session, capacity and guards apply, answers `opened` or the node's coded `error`, and then
 * pipes raw bytes both ways. A reset on either side resets the other.
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

/** A slot on a node's service for an API request another instance forwards (the holder's router). */
export type AcquireSlot = (node: string, service: string, signal: AbortSignal) => Promise<{ release(): void }> | undefined;

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
  /** Takes a slot for a forwarded API stream: the node's maxConcurrent holds across instances. */
  acquire?: AcquireSlot;
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
  let lease: { release(): void } | undefined;
  if (remote.via === 'api' && o.acquire !== undefined) {
    const gone = new AbortController();
    const onClose = (): void => gone.abort(new ProximaError(ErrorCodes.MUX_STREAM_RESET, 'the peer closed the stream'));
    stream.once('close', onClose);
    try {
      lease = await o.acquire(node, service, gone.signal);
    } catch (err) {
      refuse(stream, err);
      return;
    } finally {
      stream.off('close', onClose);
    }
    if (stream.destroyed) {
      lease?.release();
      return;
    }
  }
  let opening: NodeStream;
  try {
    opening = live.openStream(service, remote);
  } catch (err) {
    lease?.release();
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
    lease?.release();
    refuse(stream, err);
    return;
  }
  stream.off('close', onEarlyClose);
  if (stream.destroyed) {
    abortStream(opening.stream);
    lease?.release();
    return;
  }
  stream.write(encodeMessage({ type: 'opened' }));
  await relay(stream, opening.stream);
  lease?.release();
}

/** Answers the peer with the error's code (what the node or this instance said), then ends the stream. */
function refuse(stream: MuxStream, err: unknown): void {
  if (stream.destroyed) return;
  const coded = err instanceof ProximaError ? err : new ProximaError(ErrorCodes.MUX_STREAM_RESET, 'the forwarded stream failed');
  stream.end(encodeMessage({ type: 'error', code: coded.code, message: coded.message }));
  stream.resume();
}
