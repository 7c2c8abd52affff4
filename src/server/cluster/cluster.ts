/**
 * This instance's part of a cluster of super nodes: the peer links (listener and dialer), the
 * forwarded streams it serves for the other instances, and the directory that merges its own nodes
 * with theirs. Started by the server when `cluster` is configured and a remote-presence feed is
 * given; absent otherwise, and then nothing on any request path changes.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../log.js';
import { AuthThrottle } from '../api-host/auth-throttle.js';
import type { NodeSessions } from '../control/node-sessions.js';
import type { RemotePresence } from '../presence/remote-presence.js';
import type { ClusterConfig } from './cluster-config.js';
import { ClusterDirectory } from './cluster-directory.js';
import { type ServeApi, serveForwardStream } from './forwarding.js';
import { PeerLinks } from './peer-links.js';

/** What a cluster part is built from. */
export interface ClusterOptions {
  config: ClusterConfig;
  /** This instance's id (random per start; the shared store's `instance`). */
  instance: string;
  /** This instance's own sessions. */
  nodes: NodeSessions;
  /** The nodes the other instances hold. */
  remote: RemotePresence;
  /** Serves forwarded API streams (the model API's ForwardedCalls), a slot per request, so a node's maxConcurrent holds across instances. */
  serveApi?: ServeApi;
  /** Failed peer proofs per address. */
  throttle?: AuthThrottle;
  logger: Logger;
}

/** The running cluster part. */
export class Cluster {
  readonly directory: ClusterDirectory;
  readonly links: PeerLinks;

  private constructor(directory: ClusterDirectory, links: PeerLinks) {
    this.directory = directory;
    this.links = links;
  }

  /** Listens on `cluster.listen` and starts following the remote nodes. */
  static async start(o: ClusterOptions): Promise<Cluster> {
    const logger = o.logger.child({ component: 'cluster' });
    const links = await PeerLinks.listen({
      config: o.config,
      instance: o.instance,
      throttle: o.throttle ?? new AuthThrottle(),
      logger,
      onStream: (stream) =>
        void serveForwardStream(stream, { nodes: o.nodes, serveApi: o.serveApi, logger }).catch((err: unknown) =>
          logger.warn('forwarded stream failed', { err }),
        ),
    });
    const directory = new ClusterDirectory({ local: o.nodes, remote: o.remote, links, logger });
    logger.info('peer link listening', { listen: links.address(), advertise: o.config.advertise, instance: o.instance });
    return new Cluster(directory, links);
  }

  /** Where the peer listener is bound. */
  address(): { host: string; port: number } {
    return this.links.address();
  }

  /** Stops following remote nodes and closes the links (streams in flight may finish). Idempotent. */
  async close(): Promise<void> {
    this.directory.close();
    await this.links.close();
  }

  /** Cuts every link now. Idempotent. */
  async destroy(): Promise<void> {
    this.directory.close();
    await this.links.destroy();
  }
}

/**
 * The cluster part when `config` (server.yaml's `cluster`) and a remote-presence feed are both
 * given, else undefined: a single super node pays nothing for it.
 */
export function startCluster(
  config: ClusterConfig | undefined,
  o: Omit<ClusterOptions, 'config' | 'instance' | 'remote'> & { remote?: RemotePresence; instance?: string },
): Promise<Cluster | undefined> {
  if (config === undefined || o.remote === undefined) return Promise.resolve(undefined);
  return Cluster.start({ ...o, config, remote: o.remote, instance: o.instance ?? randomUUID() });
}
