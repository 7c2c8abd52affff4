/**
 * The nodes other live instances hold (a cluster of super nodes sharing PostgreSQL): what the
 * cluster directory merges with this instance's own sessions. The PostgreSQL feed implements it;
 * nodes held by this instance never appear in it.
 */
import type { EventEmitter } from 'node:events';
import type { ServiceAdvert } from '../../proto/control/messages.js';

/** A node held by another instance. */
export interface RemoteNode {
  name: string;
  /** The id of the instance holding its session. */
  instance: string;
  /** host:port of that instance's `cluster.advertise`: where its peer link listens. */
  peer: string;
  connectedAt: string;
  /** As the node advertised them: models, maxConcurrent, expose and auth hashes included. */
  services: ServiceAdvert[];
}

/** What a remote-presence feed tells: `put` a node another live instance holds (new, or adverts changed); `remove` it left, or its instance's lease expired. */
export type RemotePresenceEvents = {
  put: [node: RemoteNode];
  remove: [name: string, instance: string];
};

/** The feed of remote nodes. */
export interface RemotePresence extends Pick<EventEmitter<RemotePresenceEvents>, 'on' | 'off' | 'once'> {
  get(name: string): RemoteNode | undefined;
  nodes(): RemoteNode[];
  close(): Promise<void>;
}
