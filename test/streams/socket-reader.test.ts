import { once } from 'node:events';
import t from 'tap';
import { encodeMessage, MessageDecoder } from '../../src/proto/control/codec.js';
import { SocketReader } from '../../src/streams/socket-reader.js';
import { tcpPair } from '../fixtures/wire/mux-pair.js';

const lost = (cause?: Error): Error => Object.assign(new Error('lost'), { code: 'LOST', cause });

t.test('reads exactly what each step asks for, however the bytes arrive, and hands the rest back', async (t) => {
  const { client, server } = await tcpPair(t);
  const reader = new SocketReader(server, lost);
  const wire = Buffer.concat([
    Buffer.from('PRXM\x01'),
    encodeMessage({ type: 'one' }),
    encodeMessage({ type: 'two' }),
    Buffer.from('rest of it'),
  ]);
  const sent = (async () => {
    for (const byte of wire.subarray(0, 12)) {
      client.write(Buffer.from([byte]));
      await new Promise((resolve) => setImmediate(resolve));
    }
    client.write(wire.subarray(12));
  })();
  t.equal((await reader.bytes(5)).toString('latin1'), 'PRXM\x01');
  const decoder = new MessageDecoder();
  t.same(await reader.next(decoder), { type: 'one' });
  t.same(await reader.next(decoder), { type: 'two' });
  await sent;
  // Let 'rest of it' arrive in the reader's hands (it reads ahead by a chunk at most) before releasing.
  await new Promise((resolve) => setImmediate(resolve));
  reader.release();
  t.equal(server.isPaused(), true, 'left paused for the next owner');
  const rest: Buffer[] = [];
  server.on('data', (chunk: Buffer) => {
    rest.push(chunk);
    if (Buffer.concat(rest).length === 10) client.end();
  });
  server.resume();
  await once(server, 'end');
  t.equal(Buffer.concat(rest).toString(), 'rest of it', 'nothing lost, nothing repeated');
});

t.test('the socket is paused whenever no read waits', async (t) => {
  const { client, server } = await tcpPair(t);
  const reader = new SocketReader(server, lost);
  client.write(Buffer.alloc(256 * 1024));
  await reader.bytes(5);
  t.equal(server.isPaused(), true, 'it does not read on by itself');
  reader.release();
});

t.test('fail() rejects the waiting read and every later one; bytes already read still come first', async (t) => {
  const { client, server } = await tcpPair(t);
  const reader = new SocketReader(server, lost);
  const waiting = reader.bytes(5);
  reader.fail(new Error('deadline'));
  await t.rejects(waiting, { message: 'deadline' });
  await t.rejects(reader.next(new MessageDecoder()), { message: 'deadline' });
  t.equal(reader.failure?.message, 'deadline');
  reader.release();

  const second = await tcpPair(t);
  const ended = new SocketReader(second.server, lost);
  second.client.end(encodeMessage({ type: 'last' }));
  t.same(await ended.next(new MessageDecoder()), { type: 'last' }, 'a message that arrived with the FIN');
  await t.rejects(ended.bytes(1), { code: 'LOST' }, 'then the end of the connection');
  ended.release();
  client.destroy();
});

t.test('a connection reset fails the read with the cause', async (t) => {
  const { client, server } = await tcpPair(t);
  const reader = new SocketReader(server, lost);
  const waiting = reader.bytes(5);
  client.resetAndDestroy();
  const err = await waiting.then(
    () => undefined,
    (e: unknown) => e,
  );
  t.match(err, { code: 'LOST', cause: { code: 'ECONNRESET' } });
  reader.release();
});
