import { once } from 'node:events';
import net from 'node:net';
import t from 'tap';
import { ErrorCodes } from '../../../src/errors.js';
import { encodeMessage } from '../../../src/proto/control/codec.js';
import { dialerHandshake, listenerHandshake, PEER_MAGIC, peerProof } from '../../../src/server/cluster/peer-handshake.js';

const SECRET = 'peer-secret-0123456789abcdef-0123456789';

type Teardown = { teardown(fn: () => unknown): void };

/** A connected pair of real sockets on 127.0.0.1. */
async function socketPair(t: Teardown): Promise<[net.Socket, net.Socket]> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection');
  const dialer = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  const [listener] = (await accepted) as [net.Socket];
  await once(dialer, 'connect');
  server.close();
  t.teardown(() => {
    dialer.destroy();
    listener.destroy();
  });
  return [dialer, listener];
}

const side = (instance: string, secret = SECRET) => ({ secret, instance, advertise: `${instance}.internal:7400`, timeoutMs: 2_000 });

t.test('both sides prove the secret; each learns the other id and address; later bytes stay in the socket', async (t) => {
  const [d, l] = await socketPair(t);
  const [fromListener, fromDialer] = await Promise.all([dialerHandshake(d, side('a')), listenerHandshake(l, side('b'))]);
  t.same(fromListener, { instance: 'b', advertise: 'b.internal:7400' });
  t.same(fromDialer, { instance: 'a', advertise: 'a.internal:7400' });
  d.write('after');
  l.resume();
  const [chunk] = (await once(l, 'data')) as [Buffer];
  t.equal(chunk.toString(), 'after', 'the socket is handed on clean');
});

t.test('a proof is bound to its direction and both nonces', async (t) => {
  const base = { dialerNonce: 'n1', listenerNonce: 'n2', dialer: 'a', listener: 'b' };
  const listener = peerProof(SECRET, 'listener', base);
  t.match(listener, /^[0-9a-f]{64}$/);
  t.not(peerProof(SECRET, 'dialer', base), listener, 'not reflectable');
  t.not(peerProof(SECRET, 'listener', { ...base, dialerNonce: 'n3' }), listener);
  t.not(peerProof(`${SECRET}x`, 'listener', base), listener);
});

t.test('a wrong secret: the dialer refuses the listener, and says so', async (t) => {
  const [d, l] = await socketPair(t);
  const [dialed, listened] = await Promise.allSettled([dialerHandshake(d, side('a')), listenerHandshake(l, side('b', `${SECRET}-other`))]);
  t.equal(dialed.status, 'rejected');
  t.match((dialed as PromiseRejectedResult).reason, { code: ErrorCodes.AUTH_FAILED, message: /cluster\.secret/ });
  t.equal(listened.status, 'rejected', 'the listener sees the refusal');
  t.match((listened as PromiseRejectedResult).reason, { code: ErrorCodes.AUTH_FAILED });
});

t.test('a dialer that cannot prove the secret is refused, after the throttle is told', async (t) => {
  const [d, l] = await socketPair(t);
  let counted = 0;
  const listening = listenerHandshake(l, { ...side('b'), onWrongSecret: async () => void counted++ });
  // A dialer that sends a hello and a made-up proof.
  d.write(Buffer.concat([PEER_MAGIC, Buffer.from([1]), encodeMessage({ type: 'hello', instance: 'x', advertise: 'x:1', nonce: 'n' })]));
  await once(d, 'data');
  d.write(encodeMessage({ type: 'auth', proof: '0'.repeat(64) }));
  await t.rejects(listening, { code: ErrorCodes.AUTH_FAILED });
  t.equal(counted, 1);
});

t.test('bytes that are not a peer preamble, an oversized message, silence: each refused', async (t) => {
  const [d1, l1] = await socketPair(t);
  const notPeer = listenerHandshake(l1, side('b'));
  d1.write('PRXM\x01'); // a node dialing the peer port
  await t.rejects(notPeer, { code: ErrorCodes.HANDSHAKE_MAGIC });

  const [d2, l2] = await socketPair(t);
  const big = listenerHandshake(l2, side('b'));
  d2.write(Buffer.concat([PEER_MAGIC, Buffer.from([1]), encodeMessage({ type: 'hello', pad: 'x'.repeat(5000) })]));
  await t.rejects(big, { code: ErrorCodes.MESSAGE_TOO_LARGE });

  const [, l3] = await socketPair(t);
  await t.rejects(listenerHandshake(l3, { ...side('b'), timeoutMs: 100 }), { code: ErrorCodes.HANDSHAKE_TIMEOUT });
});
