/**
 * What the public side of the super node needs to know about nodes: the seam between the
 * control plane (handshakes, sessions) and the data plane (the public HTTP proxy).
 */
import type { Duplex } from 'node:stream';
import type { OpenVia, ServiceAdvert } from '../proto/control/messages.js';

/** The TCP peer of a public connection. */
export interface SocketPeer {
  address: string;
  port: number;
}

/** Who is on the other end of a public connection. */
export interface RemotePeer {
  address: string;
  port: number;
  /** True when the public connection arrived over TLS (directly or per a trusted proxy). */
  tls: boolean;
  /** A tenant host (the default) or the network's API: the node refuses a `network` service from a tenant host. */
  via?: OpenVia;
}

/** A stream to a node's service, opened but perhaps not yet accepted by the node. */
export interface NodeStream {
  /** Raw bytes to and from the node's local service. Write at once (pipelined); read after `opened`. */
  stream: Duplex;
  /**
   * Resolves when the node has connected to its local service; rejects with a coded error
   * (PRX_ERR_TARGET_UNREACHABLE, PRX_ERR_SERVICE_UNKNOWN, PRX_ERR_NODE_TIMEOUT, PRX_ERR_MUX_*).
   */
  opened: Promise<void>;
}

/** A node that is online now. */
export interface LiveNode {
  readonly name: string;
  /** The services it advertised; the first is the default. */
  readonly services: readonly ServiceAdvert[];
  /**
   * True for a node another instance of a cluster holds: its streams cross a peer link, and an API
   * stream carries one request (the holding instance counts each stream as one of the node's slots).
   */
  readonly remote?: boolean;
  /** Opens a stream to one of its services for a public connection from `remote`. */
  openStream(service: string, remote: RemotePeer): NodeStream;
}

/** The nodes the super node knows. */
export interface NodeDirectory {
  /** The node's live session, or undefined when it is offline. */
  live(name: string): LiveNode | undefined;
  /** True when a node of this name is registered (offline gets 502, unknown gets 404). */
  isRegistered(name: string): boolean;
}
