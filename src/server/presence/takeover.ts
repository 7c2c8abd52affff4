/**
 * Session takeover across instances: a node logging in at instance B while its session lives here
 * (instance A) gets its session here closed as replaced, as a second login on one instance does.
 * Two signals, either enough: the remote feed shows the node held elsewhere with a newer login, or
 * this instance's own presence write was refused because the row already holds a newer one.
 */
import type { NodeSessions } from '../control/node-sessions.js';
import type { PostgresPresenceStore } from './postgres-presence-store.js';
import type { RemoteNode, RemotePresence } from './remote-presence.js';

/** Starts following; the function returned stops it. */
export function followTakeovers(
  nodes: Pick<NodeSessions, 'replacedElsewhere'>,
  remote: Pick<RemotePresence, 'on' | 'off'>,
  store: Pick<PostgresPresenceStore, 'on' | 'off'>,
): () => void {
  const onPut = (node: RemoteNode): void => void nodes.replacedElsewhere(node.name, new Date(node.connectedAt));
  // Refused: the session that logged in at `connectedAt` (or before) is stale; a newer one here is not.
  const onSuperseded = (name: string, connectedAt: Date): void => void nodes.replacedElsewhere(name, new Date(connectedAt.getTime() + 1));
  remote.on('put', onPut);
  store.on('superseded', onSuperseded);
  return () => {
    remote.off('put', onPut);
    store.off('superseded', onSuperseded);
  };
}
