/**
 * The directory of a cluster instance: its own live nodes (NodeSessions) merged with the nodes
 * other instances hold (a RemotePresence feed). The public listener and the model API route with
 * it unchanged: a remote node's `openStream` goes over the peer link to the instance holding it.
 * It emits what NodeSessions emits (`opened`, `advertised`, `draining`, `closed`) for both kinds,
 * so the model catalog and the API's pools follow remote nodes too. When both claim a name, the
 * local session wins. Whether a name is registered stays the registry's word.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from '../../log.js';
import type { ServiceAdvert } from '../../proto/control/messages.js';
import { duplexPair } from '../../streams/duplex-pair.js';
import { abortStream, relay } from '../../streams/stream-relay.js';
import type { NodeSession } from '../control/node-session.js';
import type { NodeSessions } from '../control/node-sessions.js';
import type { LiveNode, NodeDirectory, NodeStream, RemotePeer } from '../node-directory.js';
import type { RemoteNode, RemotePresence } from '../presence/remote-presence.js';
import { openForwardStream } from './forwarding.js';
import type { PeerLinks } from './peer-links.js';

/** A live node as the model API follows it: local or remote, it says whether it takes new work. */
export interface DirectoryNode extends LiveNode {
  readonly online: boolean;
}

/** The events of NodeSessions, for local and remote nodes alike. */
export interface ClusterDirectoryEvents {
  opened: [node: DirectoryNode];
  advertised: [node: DirectoryNode];
  draining: [node: DirectoryNode];
  closed: [node: DirectoryNode];
}

/** A node another instance holds: its streams cross the peer link. */
export class RemoteLiveNode implements DirectoryNode {
  readonly name: string;
  readonly instance: string;
  readonly peer: string;
  readonly remote = true;
  #services: readonly ServiceAdvert[];
  #online = true;
  readonly #links: Pick<PeerLinks, 'link' | 'connect'>;

  constructor(node: RemoteNode, links: Pick<PeerLinks, 'link' | 'connect'>) {
    this.name = node.name;
    this.instance = node.instance;
    this.peer = node.peer;
    this.#services = node.services;
    this.#links = links;
  }

  get services(): readonly ServiceAdvert[] {
    return this.#services;
  }

  get online(): boolean {
    return this.#online;
  }

  /** New adverts from the same session. */
  update(services: readonly ServiceAdvert[]): void {
    this.#services = services;
  }

  /** It left: no new streams. */
  retire(): void {
    this.#online = false;
  }

  openStream(service: string, remote: RemotePeer): NodeStream {
    const session = this.#links.link(this.peer);
    if (session !== undefined) return openForwardStream(session, this.name, service, remote);
    // No link yet: one end of a pair stands in for the stream (writes wait in it) until the link is up.
    const [mine, theirs] = duplexPair();
    const opened = this.#links.connect(this.peer).then(async (link) => {
      const forward = openForwardStream(link, this.name, service, remote);
      if (theirs.destroyed) abortStream(forward.stream);
      await forward.opened;
      void relay(theirs, forward.stream);
    });
    opened.catch(() => {
      mine.destroy();
      theirs.destroy();
    });
    return { stream: mine, opened };
  }
}

/** What a ClusterDirectory merges. */
export interface ClusterDirectoryOptions {
  local: NodeSessions;
  remote: RemotePresence;
  links: Pick<PeerLinks, 'link' | 'connect'>;
  logger: Logger;
}

/** The merged directory. Stop following with {@link close}. */
export class ClusterDirectory extends EventEmitter<ClusterDirectoryEvents> implements NodeDirectory {
  readonly #o: ClusterDirectoryOptions;
  /** Remote nodes by name (hidden while a local session of the same name is live). */
  readonly #remote = new Map<string, RemoteLiveNode>();
  readonly #relays: [keyof ClusterDirectoryEvents, (node: NodeSession) => void][];
  readonly #onPut = (node: RemoteNode): void => this.#put(node);
  readonly #onRemove = (name: string, instance: string): void => this.#remove(name, instance);

  constructor(o: ClusterDirectoryOptions) {
    super();
    this.#o = o;
    this.#relays = (['opened', 'advertised', 'draining', 'closed'] as const).map((event) => [
      event,
      (node: NodeSession) => {
        this.emit(event, node);
        // A local session gone: a remote claim on the name (a node moving in) shows again.
        if (event === 'closed') this.#reveal(node.name);
      },
    ]);
    for (const [event, listener] of this.#relays) o.local.on(event, listener);
    o.remote.on('put', this.#onPut);
    o.remote.on('remove', this.#onRemove);
    for (const node of o.remote.nodes()) this.#put(node);
  }

  live(name: string): LiveNode | undefined {
    const local = this.#o.local.live(name);
    if (local !== undefined) return local;
    const remote = this.#remote.get(name);
    return remote?.online === true ? remote : undefined;
  }

  isRegistered(name: string): boolean {
    return this.#o.local.isRegistered(name);
  }

  /** Remote nodes known now (for tests and the dashboard). */
  remoteNodes(): RemoteLiveNode[] {
    return [...this.#remote.values()];
  }

  /** Stops following; the remote nodes are told closed, so their pools end. Idempotent. */
  close(): void {
    for (const [event, listener] of this.#relays) this.#o.local.off(event, listener);
    this.#o.remote.off('put', this.#onPut);
    this.#o.remote.off('remove', this.#onRemove);
    for (const node of [...this.#remote.values()]) this.#remove(node.name, node.instance);
  }

  #shown(node: RemoteLiveNode): boolean {
    return this.#remote.get(node.name) === node && this.#o.local.live(node.name) === undefined;
  }

  #put(node: RemoteNode): void {
    // Its instance has no peer link (no `cluster` there): nothing here can reach the node.
    if (node.peer === '') {
      this.#remove(node.name, node.instance);
      return;
    }
    const known = this.#remote.get(node.name);
    if (known !== undefined && known.instance === node.instance) {
      known.update(node.services);
      if (this.#shown(known)) this.emit('advertised', known);
      return;
    }
    if (known !== undefined) this.#remove(known.name, known.instance);
    const fresh = new RemoteLiveNode(node, this.#o.links);
    this.#remote.set(node.name, fresh);
    // Dial now, so the first request finds the link up.
    void this.#o.links.connect(node.peer).catch(() => undefined);
    if (!this.#shown(fresh)) return;
    this.emit('opened', fresh);
    this.emit('advertised', fresh);
  }

  #remove(name: string, instance: string): void {
    const node = this.#remote.get(name);
    if (node === undefined || node.instance !== instance) return;
    const shown = this.#shown(node);
    node.retire();
    this.#remote.delete(name);
    if (!shown) return;
    this.emit('draining', node);
    this.emit('closed', node);
  }

  #reveal(name: string): void {
    const node = this.#remote.get(name);
    if (node === undefined || !this.#shown(node)) return;
    this.emit('opened', node);
    this.emit('advertised', node);
  }
}
