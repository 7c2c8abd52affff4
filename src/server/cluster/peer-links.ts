/**
 * The peer links of one instance: a TCP listener on `cluster.listen` and, per other instance, one
 * authenticated link carrying our yamux (src/mux), dialed on demand and kept open. Its keepalive
 * is the heartbeat: a link whose pings go unanswered is destroyed, and the next request (or the
 * cluster directory, while the peer holds nodes) dials it again. A link either side dialed serves
 * both directions, keyed by the other side's advertised address.
 */
import net from 'node:net';
import { ErrorCodes, ProximaError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { type MuxStream, Session } from '../../mux/index.js';
import { type AuthThrottle, admit, failed } from '../api-host/auth-throttle.js';
import type { ClusterConfig } from './cluster-config.js';
import { dialerHandshake, listenerHandshake, type PeerIdentity } from './peer-handshake.js';

/** Heartbeats of a peer link: a ping this often, the link is dead when one is unanswered this long. */
export const PEER_KEEPALIVE_INTERVAL_MS = 5_000;
export const PEER_KEEPALIVE_TIMEOUT_MS = 5_000;
/** Handshakes in progress at once on the listener; more connections are refused at accept. */
const MAX_PEER_HANDSHAKES = 64;
/** How long a dial may take before the link counts as unreachable. */
const DIAL_TIMEOUT_MS = 5_000;

/** What a PeerLinks is built from. */
export interface PeerLinksOptions {
  config: ClusterConfig;
  /** This instance's id (random per start). */
  instance: string;
  /** Serves a stream the other side opened (a forwarded request). */
  onStream(stream: MuxStream): void;
  /** Failed proofs per address: slowed, then refused. */
  throttle?: AuthThrottle;
  logger: Logger;
}

/** The listener and the links. Start it with {@link PeerLinks.listen}. */
export class PeerLinks {
  readonly #o: PeerLinksOptions;
  readonly #server = net.createServer({ noDelay: true });
  readonly #advertise: string;
  /** Open links by the other side's advertised host:port. */
  readonly #links = new Map<string, Session>();
  /** Every open link, older ones to the same peer included. */
  readonly #sessions = new Set<Session>();
  readonly #dialing = new Map<string, Promise<Session>>();
  readonly #sockets = new Set<net.Socket>();
  #handshakes = 0;
  #closed = false;

  private constructor(o: PeerLinksOptions) {
    this.#o = o;
    this.#advertise = `${o.config.advertise.host}:${o.config.advertise.port}`;
  }

  /** Listens on `cluster.listen`. */
  static async listen(o: PeerLinksOptions): Promise<PeerLinks> {
    const links = new PeerLinks(o);
    links.#server.on('connection', (socket) => links.#accept(socket));
    await new Promise<void>((resolve, reject) => {
      links.#server.once('error', reject);
      links.#server.listen(o.config.listen.port, o.config.listen.host, () => {
        links.#server.off('error', reject);
        resolve();
      });
    });
    return links;
  }

  /** Where the listener is bound (the real port when 0 was configured). */
  address(): { host: string; port: number } {
    const a = this.#server.address() as net.AddressInfo;
    return { host: a.address, port: a.port };
  }

  /** Open links, for tests and metrics. */
  get size(): number {
    return this.#sessions.size;
  }

  /** The open link to `peer` (host:port), if there is one now. */
  link(peer: string): Session | undefined {
    const session = this.#links.get(peer);
    return session?.isOpen === true ? session : undefined;
  }

  /** The link to `peer`, dialed if there is none; rejects with PRX_ERR_NODE_OFFLINE when it cannot be reached. */
  connect(peer: string): Promise<Session> {
    const open = this.link(peer);
    if (open !== undefined) return Promise.resolve(open);
    let dialing = this.#dialing.get(peer);
    if (dialing === undefined) {
      dialing = this.#dial(peer).finally(() => this.#dialing.delete(peer));
      this.#dialing.set(peer, dialing);
    }
    return dialing;
  }

  /** Stops listening and closes every link (GoAway: streams in flight may finish). Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#server.close();
    await Promise.all([...this.#sessions].map((s) => s.close()));
    for (const socket of this.#sockets) socket.destroy();
  }

  /** Cuts every link now. Idempotent. */
  async destroy(): Promise<void> {
    this.#closed = true;
    this.#server.close();
    await Promise.all([...this.#sessions].map((s) => s.destroy()));
    for (const socket of this.#sockets) socket.destroy();
  }

  async #dial(peer: string): Promise<Session> {
    if (this.#closed) throw unreachable(peer, 'this instance is shutting down');
    const [host, port] = splitHostPort(peer);
    const socket = net.connect({ host, port, noDelay: true });
    this.#track(socket);
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no connection within ${DIAL_TIMEOUT_MS} ms`)), DIAL_TIMEOUT_MS);
        timer.unref();
        socket.once('connect', () => {
          clearTimeout(timer);
          resolve();
        });
        socket.once('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
      });
      const identity = await dialerHandshake(socket, this.#handshakeOptions());
      return this.#start(socket, identity, 'client', peer);
    } catch (err) {
      socket.destroy();
      if (err instanceof ProximaError && err.code === ErrorCodes.AUTH_FAILED)
        this.#o.logger.error('peer link refused: wrong cluster secret', { peer, err });
      else this.#o.logger.warn('peer link failed', { peer, err });
      throw unreachable(peer, (err as Error).message, err);
    }
  }

  #accept(socket: net.Socket): void {
    this.#track(socket);
    const address = socket.remoteAddress ?? 'unknown';
    if (this.#closed || this.#handshakes >= MAX_PEER_HANDSHAKES) {
      socket.destroy();
      return;
    }
    this.#handshakes++;
    const { throttle, logger } = this.#o;
    listenerHandshake(socket, {
      ...this.#handshakeOptions(),
      checked: () => admit(throttle, address, 'cluster proofs'),
      onWrongSecret: () => failed(throttle, address),
    }).then(
      (identity) => {
        this.#handshakes--;
        if (this.#closed) socket.destroy();
        else this.#start(socket, identity, 'server', identity.advertise);
      },
      (err: unknown) => {
        this.#handshakes--;
        if (err instanceof ProximaError && err.code === ErrorCodes.AUTH_FAILED)
          logger.error('peer link refused: the dialer does not know our cluster secret', { remote: address });
        else logger.warn('peer handshake failed', { remote: address, err });
        socket.on('error', () => undefined);
        if (!socket.writableEnded) socket.destroy();
        else setTimeout(() => socket.destroy(), 1_000).unref();
      },
    );
  }

  #start(socket: net.Socket, identity: PeerIdentity, role: 'client' | 'server', peer: string): Session {
    const session = new Session(socket, {
      role,
      keepaliveIntervalMs: PEER_KEEPALIVE_INTERVAL_MS,
      keepaliveTimeoutMs: PEER_KEEPALIVE_TIMEOUT_MS,
      logger: this.#o.logger,
    });
    socket.resume(); // the handshake left it paused, with any early yamux bytes unshifted
    session.on('stream', (stream) => this.#o.onStream(stream));
    // The newest link to a peer serves our requests. Two instances that dialed each other at once keep
    // both links (closing one on each side could close both); the older serves the other side's.
    this.#links.set(peer, session);
    this.#sessions.add(session);
    this.#o.logger.info('peer link up', { peer, instance: identity.instance, dialed: role === 'client' });
    void session.closed.then(() => {
      this.#sessions.delete(session);
      if (this.#links.get(peer) === session) this.#links.delete(peer);
      this.#o.logger.info('peer link down', { peer, instance: identity.instance });
    });
    return session;
  }

  #handshakeOptions(): { secret: string; instance: string; advertise: string } {
    return { secret: this.#o.config.secret, instance: this.#o.instance, advertise: this.#advertise };
  }

  #track(socket: net.Socket): void {
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
  }
}

function unreachable(peer: string, why: string, cause?: unknown): ProximaError {
  return new ProximaError(ErrorCodes.NODE_OFFLINE, `the instance holding the node (${peer}) is unreachable: ${why}`, { cause });
}

function splitHostPort(peer: string): [string, number] {
  const at = peer.lastIndexOf(':');
  const host = peer.slice(0, at).replace(/^\[|\]$/g, '');
  return [host, Number(peer.slice(at + 1))];
}
