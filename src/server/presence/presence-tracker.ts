/**
 * Keeps a presence store in step with the live nodes: a row when a node advertises (the first time
 * and on every change), removed when it drains or its session closes, and its last-seen time moved
 * by every answered heartbeat (in memory; the store writes it with its next write). Only a node's
 * current session counts: a replaced session that closes later does not take the new one's row.
 */
import type { NodeSession } from '../control/node-session.js';
import type { NodeSessions } from '../control/node-sessions.js';
import type { NodePresence, PresenceService, PresenceStore } from './presence-store.js';

/** What the tracker watches and where it writes. */
export interface PresenceTrackerOptions {
  nodes: Pick<NodeSessions, 'on' | 'off'>;
  store: PresenceStore;
  /** A node left (the registry records when it was last seen). */
  onLeave?(name: string): void;
  now?: () => number;
}

/** Starts tracking; the function returned stops it. */
export function trackPresence(options: PresenceTrackerOptions): () => void {
  const { nodes, store } = options;
  const now = options.now ?? Date.now;
  const held = new Map<string, NodeSession>();
  const beats = new Map<NodeSession, () => void>();

  const onAdvertised = (node: NodeSession): void => {
    if (!node.session.isOpen) return;
    held.set(node.name, node);
    store.put(presenceOf(node, store.instance, new Date(now())), node.services);
    if (!beats.has(node)) {
      const beat = (): void => {
        if (held.get(node.name) === node) store.seen(node.name, new Date(now()));
      };
      beats.set(node, beat);
      node.session.on('heartbeat', beat);
    }
  };
  const onGone = (node: NodeSession): void => {
    const beat = beats.get(node);
    if (beat !== undefined) {
      node.session.off('heartbeat', beat);
      beats.delete(node);
    }
    if (held.get(node.name) !== node) return;
    held.delete(node.name);
    store.remove(node.name);
    options.onLeave?.(node.name);
  };

  nodes.on('advertised', onAdvertised).on('draining', onGone).on('closed', onGone);
  return () => {
    nodes.off('advertised', onAdvertised).off('draining', onGone).off('closed', onGone);
    for (const [node, beat] of beats) node.session.off('heartbeat', beat);
    beats.clear();
  };
}

/** A node's presence row as of `at`. */
export function presenceOf(node: NodeSession, instance: string, at: Date): NodePresence {
  const services: PresenceService[] = node.services.map((s) => ({
    name: s.name,
    kind: s.kind,
    models: (s.models ?? []).map((m) => m.name),
    ...(s.maxConcurrent === undefined ? {} : { maxConcurrent: s.maxConcurrent }),
  }));
  return {
    name: node.name,
    instance,
    connectedAt: node.connectedAt.toISOString(),
    lastSeenAt: at.toISOString(),
    address: node.peer.address,
    clientVersion: node.peer.clientVersion,
    services,
  };
}
