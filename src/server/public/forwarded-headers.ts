/**
 * The edits every request head gets on its way to a node: X-Forwarded-For, -Host and -Proto, the
 * Host the service asked for, and origin-form for an absolute-form target. Without `trustProxy`
 * the X-Forwarded-* fields a client sent are replaced (it could claim any address); with it, those
 * a front proxy such as nginx set are kept and the proxy's address is appended (frp #4168).
 * `trustProxy` here is per connection: whether its peer is one of `http.trustProxy`'s addresses.
 */
import net from 'node:net';
import type { RequestHeadEdits } from '../../proto/http/head-edit.js';
import type { RequestHead } from '../../proto/http/request-head.js';
import type { RemotePeer, SocketPeer } from '../node-directory.js';

/**
 * Who the node should think is asking. The socket's peer, or, with `trustProxy`, the last
 * X-Forwarded-For entry (the address the proxy saw) and X-Forwarded-Proto; the port is then unknown (0).
 */
export function remotePeer(head: RequestHead, socket: SocketPeer, trustProxy: boolean): RemotePeer {
  if (!trustProxy) return { address: socket.address, port: socket.port, tls: false, via: 'public' };
  const forwardedFor = head.get('x-forwarded-for');
  const last = forwardedFor?.slice(forwardedFor.lastIndexOf(',') + 1).trim() ?? '';
  const proto = head.get('x-forwarded-proto')?.split(',')[0]?.trim().toLowerCase();
  const known = net.isIP(last) !== 0;
  return { address: known ? last : socket.address, port: known ? 0 : socket.port, tls: proto === 'https', via: 'public' };
}

/**
 * The edits for one request from `socket`. `hostHeader`: the Host the service wants (Ollama
 * answers 403 to any other). The super node itself speaks plain HTTP: without a trusted proxy the
 * scheme is `http`.
 */
export function forwardedEdits(
  head: RequestHead,
  socket: SocketPeer,
  trustProxy: boolean,
  hostHeader: string | undefined,
): RequestHeadEdits {
  const set: Record<string, string> = {};
  const append: Record<string, string> = {};
  // An absolute-form authority overrides Host (RFC 9112 3.2.2); in origin-form it must go in Host.
  const host = hostHeader ?? (head.absoluteForm ? head.host : undefined);
  if (host !== undefined) set.Host = host;
  if (trustProxy) append['X-Forwarded-For'] = socket.address;
  else set['X-Forwarded-For'] = socket.address;
  // Tenant requests always name a host: it is how they were routed.
  if (!trustProxy || head.get('x-forwarded-host') === undefined) set['X-Forwarded-Host'] = head.host!;
  if (!trustProxy || head.get('x-forwarded-proto') === undefined) set['X-Forwarded-Proto'] = 'http';
  const edits: RequestHeadEdits = { set, append };
  if (head.absoluteForm) edits.target = head.originTarget;
  return edits;
}
