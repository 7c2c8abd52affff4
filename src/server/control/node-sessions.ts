/**
 * The live nodes of a super node, by name: the {@link NodeDirectory} the data plane routes with.
 * A second login for a name replaces the first session at once; the old one is closed cleanly in
 * the background (GoAway; its streams may finish, bounded by the session's close timeout, and its
 * keepalive ends it sooner if its connection is half-open), so a dead connection never blocks a
 * new login (frp #5391). A revoked or rotated node's sessions are destroyed at once.
 */
import { EventEmitter } from 'node:events';
import { ErrorCodes, ProximaError } from '../../errors.js';
import { type Logger, silentLogger } from '../../log.js';
import type { Session } from '../../mux/index.js';
import type { LiveNode, NodeDirectory } from '../node-directory.js';
import type { Registry } from '../registry/registry.js';
import { type LoginPeer, NodeSession, type OpenStream, type SessionCloseReason } from './node-session.js';

/** What the directory is built from. */
export interface NodeSessionsOptions {
  registry: Pick<Registry, 'on' | 'off' | 'list' | 'touch'>;
  /** The data plane's stream opener, used by every {@link LiveNode.openStream}. */
  openStream: OpenStream;
  logger?: Logger;
}

/** What happens to nodes, for metrics, logs and tests. */
export interface NodeSessionsEvents {
  /** A node logged in: its session is attached (it is online once it advertises). */
  opened: [node: NodeSession];
  /** A node advertised its services (the first time after login, or again). */
  advertised: [node: NodeSession];
  /** A node takes no new work: it drains, leaves, or its session is closing (streams in flight may finish). */
  draining: [node: NodeSession];
  /** A node's session is gone (its socket closed). */
  closed: [node: NodeSession];
}

/** The live nodes. Create it with {@link NodeSessions.open}. */
export class NodeSessions extends EventEmitter<NodeSessionsEvents> implements NodeDirectory {
  readonly #options: NodeSessionsOptions;
  readonly #logger: Logger;
  /** The current session of each name. */
  readonly #current = new Map<string, NodeSession>();
  /** Every session whose socket is still open: current, replaced and closing ones. */
  readonly #all = new Set<NodeSession>();
  readonly #registered = new Set<string>();
  #stopping: Promise<void> | undefined;

  readonly #onAdded = (name: string): void => void this.#registered.add(name);
  readonly #onRevoked = (name: string): void => {
    this.#registered.delete(name);
    this.#drop(name, 'revoked', 'the node was revoked');
  };
  readonly #onRotated = (name: string): void => this.#drop(name, 'rotated', 'the node was given a new token');

  private constructor(options: NodeSessionsOptions) {
    super();
    this.#options = options;
    this.#logger = (options.logger ?? silentLogger).child({ component: 'nodes' });
  }

  /** Subscribes to the registry's changes, then loads the registered names. */
  static async open(options: NodeSessionsOptions): Promise<NodeSessions> {
    const nodes = new NodeSessions(options);
    const { registry } = options;
    // Changes that arrive while the list is read are replayed over it, so none is lost.
    const early: [string, boolean][] = [];
    const noteAdded = (name: string): number => early.push([name, true]);
    const noteRevoked = (name: string): number => early.push([name, false]);
    registry.on('added', noteAdded).on('revoked', noteRevoked);
    registry.on('added', nodes.#onAdded).on('revoked', nodes.#onRevoked).on('rotated', nodes.#onRotated);
    try {
      const names = (await registry.list()).map((r) => r.name);
      for (const name of names) nodes.#registered.add(name);
      for (const [name, added] of early)
        if (added) nodes.#registered.add(name);
        else nodes.#registered.delete(name);
    } finally {
      registry.off('added', noteAdded).off('revoked', noteRevoked);
    }
    return nodes;
  }

  live(name: string): LiveNode | undefined {
    const node = this.#current.get(name);
    return node?.online === true ? node : undefined;
  }

  isRegistered(name: string): boolean {
    return this.#registered.has(name);
  }

  /** Open sessions, replaced and closing ones included. */
  get size(): number {
    return this.#all.size;
  }

  /** Registered nodes, online or not. */
  get registeredCount(): number {
    return this.#registered.size;
  }

  /** Nodes online now: a current session that advertised and takes work. */
  onlineCount(): number {
    let online = 0;
    for (const node of this.#current.values()) if (node.online) online++;
    return online;
  }

  /** Streams open now on every session, replaced and closing ones included. */
  streamCount(): number {
    let streams = 0;
    for (const node of this.#all) streams += node.session.streamCount;
    return streams;
  }

  /** Names with a current session (online or not yet advertised). */
  names(): string[] {
    return [...this.#current.keys()];
  }

  /** Takes the session of a node that just logged in; replaces the node's previous session if any. */
  attach(name: string, session: Session, peer?: LoginPeer): NodeSession {
    const node = new NodeSession(name, session, {
      openStream: this.#options.openStream,
      peer,
      onAdvertise: (n) => {
        this.#options.registry.touch(
          n.name,
          n.services.map((s) => s.name),
        );
        this.emit('advertised', n);
      },
      onDraining: (n) => this.emit('draining', n),
      logger: this.#logger,
    });
    this.#all.add(node);
    this.emit('opened', node);
    void node.closed.then(() => {
      this.#all.delete(node);
      if (this.#current.get(name) === node) this.#current.delete(name);
      this.emit('closed', node);
    });
    if (this.#stopping !== undefined) {
      void node.closeWith(ErrorCodes.SERVER_DRAINING, 'the super node is shutting down', 'shutdown');
      return node;
    }
    const previous = this.#current.get(name);
    this.#current.set(name, node);
    if (previous !== undefined) {
      this.#logger.info('session replaced by a new login', { node: name });
      void previous.closeWith(ErrorCodes.SESSION_REPLACED, 'a newer session for this node replaced this one', 'replaced');
    }
    return node;
  }

  /**
   * The node logged in at another super node instance at `at` (issue 20): its session here, when
   * older, is closed as on a second login here (reason `replaced`). True when one was closed.
   */
  replacedElsewhere(name: string, at: Date): boolean {
    const node = this.#current.get(name);
    if (node === undefined || node.connectedAt.getTime() >= at.getTime()) return false;
    this.#current.delete(name);
    this.#logger.info('session replaced by a login at another instance', { node: name });
    void node.closeWith(
      ErrorCodes.SESSION_REPLACED,
      'a newer session for this node at another super node instance replaced this one',
      'replaced',
    );
    return true;
  }

  /**
   * Drains: every node is told `drain` and its session closed cleanly (GoAway; streams may finish,
   * bounded by the sessions' close timeout). Resolves when every session is gone. Idempotent.
   */
  close(): Promise<void> {
    this.#stopping ??= this.#stop((node) => node.drain('the super node is shutting down'));
    return this.#stopping;
  }

  /** Destroys every session at once. Idempotent. */
  async destroy(err?: Error): Promise<void> {
    this.#stopping ??= Promise.resolve();
    await this.#stop((node) => node.abort('shutdown', err));
    await this.#stopping;
  }

  async #stop(end: (node: NodeSession) => Promise<void>): Promise<void> {
    const { registry } = this.#options;
    registry.off('added', this.#onAdded).off('revoked', this.#onRevoked).off('rotated', this.#onRotated);
    await Promise.all([...this.#all].map(end));
    // A login that completed meanwhile was closed by attach(); wait for it too.
    await Promise.all([...this.#all].map((node) => node.closed));
  }

  /** Destroys every session of `name`: its credentials are no longer valid. */
  #drop(name: string, reason: SessionCloseReason, why: string): void {
    for (const node of this.#all) {
      if (node.name !== name) continue;
      this.#logger.info('closing the session of a node whose token is void', { node: name, why });
      void node.destroy(new ProximaError(ErrorCodes.AUTH_FAILED, why), reason);
    }
  }
}
