import { PassThrough } from 'node:stream';
import t from 'tap';
import { encodeMessage, MessageDecoder } from '../../src/proto/control/codec.js';
import { readFramed } from '../../src/streams/framed-reader.js';

t.test('each message is handed on as its last byte arrives, in order', async (t) => {
  const stream = new PassThrough();
  const seen: unknown[] = [];
  readFramed(
    stream,
    new MessageDecoder(),
    (m) => seen.push(m),
    (err) => t.fail(String(err)),
  );
  const wire = Buffer.concat([encodeMessage({ type: 'a' }), encodeMessage({ type: 'b' })]);
  stream.write(wire.subarray(0, 5));
  await new Promise((resolve) => setImmediate(resolve));
  t.same(seen, [], 'nothing before a message is whole');
  stream.write(wire.subarray(5));
  await new Promise((resolve) => setImmediate(resolve));
  t.same(seen, [{ type: 'a' }, { type: 'b' }]);
});

t.test('lost framing stops reading and reports the decoder error once', async (t) => {
  const stream = new PassThrough();
  const seen: unknown[] = [];
  const broken: Error[] = [];
  readFramed(
    stream,
    new MessageDecoder(),
    (m) => seen.push(m),
    (err) => broken.push(err),
  );
  const tooLong = Buffer.alloc(4);
  tooLong.writeUInt32BE(64 * 1024 + 1);
  stream.write(Buffer.concat([encodeMessage({ type: 'a' }), tooLong]));
  stream.write(encodeMessage({ type: 'after' }));
  await new Promise((resolve) => setImmediate(resolve));
  t.same(seen, [], 'a chunk whose framing breaks is not half-delivered');
  t.match(broken, [{ code: 'PRX_ERR_MESSAGE_TOO_LARGE' }]);
  t.equal(stream.listenerCount('data'), 0, 'no longer reading');
});
