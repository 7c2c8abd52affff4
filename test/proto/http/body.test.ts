import t from 'tap';
import { CloseFramer, createBodyFramer, LengthFramer } from '../../../src/proto/http/body.js';
import { ChunkedFramer } from '../../../src/proto/http/chunked.js';
import { RESPONSE_SIDE } from '../../../src/proto/http/error.js';
import { chunkings } from '../../fixtures/wire/chunkings.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

t.test('a length framer takes exactly its length and leaves the rest', async (t) => {
  const input = b('hello worldGET / HTTP/1.1\r\n');
  for (const { name, chunks } of chunkings(input)) {
    const framer = new LengthFramer(11);
    const body: Buffer[] = [];
    const rest: Buffer[] = [];
    let doneAt = -1;
    chunks.forEach((chunk, i) => {
      const part = framer.push(chunk);
      body.push(part.bytes);
      rest.push(part.rest);
      if (part.done && doneAt < 0) doneAt = i;
      if (!part.done && part.rest.length > 0) t.fail(`${name}: rest before the end`);
    });
    if (Buffer.concat(body).toString() !== 'hello world' || Buffer.concat(rest).toString() !== 'GET / HTTP/1.1\r\n' || !framer.done) {
      t.fail(name);
    }
  }
  const framer = new LengthFramer(5);
  const chunk = b('abcdefgh');
  const part = framer.push(chunk);
  t.equal(part.bytes.buffer, chunk.buffer, 'a subarray, not a copy');
  t.equal(part.bytes.toString(), 'abcde');
  t.equal(part.rest.toString(), 'fgh');
  t.equal(part.done, true);
  t.equal(framer.remainingBytes, 0);
  const after = framer.push(b('xyz'));
  t.same([after.bytes.length, after.done, after.rest.toString()], [0, true, 'xyz'], 'a finished body takes nothing more');
});

t.test('remaining bytes count down', async (t) => {
  const framer = new LengthFramer(10);
  t.equal(framer.push(b('abc')).done, false);
  t.equal(framer.remainingBytes, 7);
  t.equal(framer.done, false);
  t.throws(() => new LengthFramer(-1), RangeError);
  t.throws(() => new LengthFramer(1.5), RangeError);
});

t.test('createBodyFramer: none and length 0 are done at once; chunked and close framers', async (t) => {
  t.equal(createBodyFramer({ kind: 'none' }).done, true);
  t.equal(createBodyFramer({ kind: 'length', length: 0 }).done, true);
  const none = createBodyFramer({ kind: 'none' }).push(b('GET /'));
  t.same([none.bytes.length, none.done, none.rest.toString()], [0, true, 'GET /']);
  t.ok(createBodyFramer({ kind: 'length', length: 3 }) instanceof LengthFramer);
  t.ok(createBodyFramer({ kind: 'chunked' }) instanceof ChunkedFramer);
  t.throws(() => createBodyFramer({ kind: 'chunked' }, { side: RESPONSE_SIDE }).push(b('z\r\n')), {
    code: 'PRX_ERR_HTTP_AMBIGUOUS_FRAMING',
    status: 502,
  });
  t.throws(() => createBodyFramer({ kind: 'chunked' }).push(b('z\r\n')), { code: 'PRX_ERR_HTTP_AMBIGUOUS_FRAMING', status: 400 });
  const close = createBodyFramer({ kind: 'close' });
  t.ok(close instanceof CloseFramer);
  const chunk = b('HTTP/1.1 200 OK\r\n\r\n');
  const part = close.push(chunk);
  t.equal(part.bytes, chunk, 'a close-delimited body takes every byte, even ones that look like a head');
  t.equal(part.done, false);
  t.equal(part.rest.length, 0);
});
