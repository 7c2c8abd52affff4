import { createHash } from 'node:crypto';
import t from 'tap';
import { ChunkedFramer } from '../../../src/proto/http/chunked.js';
import { REQUEST_SIDE, RESPONSE_SIDE } from '../../../src/proto/http/error.js';
import { chunkings, seededRandom } from '../../fixtures/wire/chunkings.js';
import { decodeChunked } from '../../fixtures/wire/http-messages.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

interface Framed {
  body: Buffer;
  rest: Buffer;
  done: boolean;
  error?: { code: string; status: number };
  /** A broken invariant of push(), if any. */
  broken?: string;
}

/** Feeds `chunks` to a framer; what belonged to the body, what followed, where it failed. */
function frame(chunks: Buffer[], framer = new ChunkedFramer(REQUEST_SIDE)): Framed {
  const body: Buffer[] = [];
  const rest: Buffer[] = [];
  let broken: string | undefined;
  try {
    for (const chunk of chunks) {
      const wasDone = framer.done;
      const part = framer.push(chunk);
      if (part.bytes.length + part.rest.length !== chunk.length) broken = 'bytes and rest are not the whole chunk';
      if (wasDone && part.bytes.length > 0) broken = 'bytes after the end of the body';
      if (!part.done && part.rest.length > 0) broken = 'rest before the end of the body';
      body.push(part.bytes);
      rest.push(part.rest);
    }
  } catch (err) {
    const e = err as { code: string; status: number };
    return { body: Buffer.concat(body), rest: Buffer.concat(rest), done: false, error: { code: e.code, status: e.status }, broken };
  }
  return { body: Buffer.concat(body), rest: Buffer.concat(rest), done: framer.done, broken };
}

const VALID = [
  '0\r\n\r\n',
  '3\r\nabc\r\n0\r\n\r\n',
  '1\r\na\r\n2\r\nbc\r\n00\r\n\r\n',
  'A\r\n0123456789\r\nf\r\n0123456789abcde\r\n0\r\n\r\n',
  '3;name\r\nabc\r\n0;last=yes\r\n\r\n',
  '3;a=b;c="d;\\"e\\" \tf"\r\nabc\r\n0\r\n\r\n',
  '3\r\nabc\r\n0\r\nX-Checksum: 1\r\nX-Empty:\r\n\r\n',
  '4\r\n\r\n\r\n\r\n0\r\n\r\n', // CRLFs as data
  '0000003\r\nabc\r\n0\r\n\r\n',
  '0000000000003\r\nabc\r\n0\r\n\r\n', // 13 digits, the most
];

t.test('valid chunked bodies pass through untouched, in every chunking', async (t) => {
  const NEXT = 'GET /next HTTP/1.1\r\n\r\n';
  for (const body of VALID) {
    const input = b(body + NEXT);
    for (const { name, chunks } of chunkings(input, { randomRuns: 10 })) {
      const result = frame(chunks);
      if (
        result.error !== undefined ||
        result.broken !== undefined ||
        result.body.toString('latin1') !== body ||
        result.rest.toString('latin1') !== NEXT ||
        !result.done
      ) {
        t.fail(`${JSON.stringify(body)} ${name}: ${JSON.stringify(result.error)}`);
      }
    }
    t.pass(JSON.stringify(body));
  }
});

t.test('the body bytes are subarrays of the input, never copies', async (t) => {
  const input = b('3\r\nabc\r\n0\r\n\r\nNEXT');
  const part = new ChunkedFramer(REQUEST_SIDE).push(input);
  t.equal(part.bytes.buffer, input.buffer);
  t.equal(part.bytes.byteOffset, input.byteOffset);
  t.equal(part.rest.byteOffset, input.byteOffset + input.length - 4);
  t.equal(part.done, true);
});

t.test('a large body in random chunks and random chunkings keeps its hash', async (t) => {
  const random = seededRandom(7);
  const payload = Buffer.alloc(256 * 1024);
  for (let i = 0; i < payload.length; i++) payload[i] = Math.floor(random() * 256);
  const parts: Buffer[] = [];
  for (let pos = 0; pos < payload.length; ) {
    const size = Math.min(payload.length - pos, Math.floor(random() * 20000) + 1);
    parts.push(b(size.toString(16) + '\r\n'), payload.subarray(pos, pos + size), b('\r\n'));
    pos += size;
  }
  parts.push(b('0\r\n\r\n'));
  const encoded = Buffer.concat(parts);
  const hash = (x: Buffer): string => createHash('sha256').update(x).digest('hex');
  for (const { name, chunks } of chunkings(encoded, { everySplit: false, randomRuns: 5 })) {
    const result = frame(chunks);
    t.equal(result.done, true, name);
    t.equal(result.broken, undefined, name);
    t.equal(hash(result.body), hash(encoded), `${name}: bytes untouched`);
    t.equal(hash(decodeChunked(result.body)), hash(payload), `${name}: payload intact`);
  }
});

const INVALID = [
  '0x3\r\nabc\r\n0\r\n\r\n',
  '+3\r\nabc\r\n0\r\n\r\n',
  '-3\r\nabc\r\n0\r\n\r\n',
  ' 3\r\nabc\r\n0\r\n\r\n',
  '3 \r\nabc\r\n0\r\n\r\n',
  '3\t\r\nabc\r\n0\r\n\r\n',
  '3 ;a\r\nabc\r\n0\r\n\r\n',
  '3; a\r\nabc\r\n0\r\n\r\n',
  '3;a =b\r\nabc\r\n0\r\n\r\n',
  '3;a= b\r\nabc\r\n0\r\n\r\n',
  '3;\r\nabc\r\n0\r\n\r\n',
  '3;a=\r\nabc\r\n0\r\n\r\n',
  '3;a="b\r\nabc\r\n0\r\n\r\n',
  '3;a="b\x01"\r\nabc\r\n0\r\n\r\n',
  '3;a="b"c\r\nabc\r\n0\r\n\r\n',
  '3;a\nb\r\nabc\r\n0\r\n\r\n',
  '3;a\rb\r\nabc\r\n0\r\n\r\n',
  'g\r\n',
  '\r\nabc\r\n0\r\n\r\n',
  '3\nabc\r\n0\r\n\r\n',
  '3\r\r\nabc\r\n0\r\n\r\n',
  '3\r\nabcd\r\n0\r\n\r\n',
  '3\r\nabc\n0\r\n\r\n',
  '3\r\nabc\r0\r\n\r\n',
  '3\r\nabc0\r\n\r\n',
  '10000000000000\r\n',
  '00000000000003\r\nabc\r\n0\r\n\r\n',
  '0\n\r\n',
  '0\r\n\n',
  '0\r\n\r\r\n',
  '0\r\nContent-Length: 5\r\n\r\n',
  '0\r\ncontent-length: 5\r\n\r\n',
  '0\r\nTransfer-Encoding: chunked\r\n\r\n',
  '0\r\nHost: evil\r\n\r\n',
  '0\r\nX : 1\r\n\r\n',
  '0\r\n X: 1\r\n\r\n',
  '0\r\nX: 1\r\n 2\r\n\r\n',
  '0\r\nX: 1\n\r\n',
  '0\r\nX: a\rb\r\n\r\n',
  '0\r\nX: a\x00b\r\n\r\n',
  '0\r\nno colon\r\n\r\n',
];

t.test('malformed chunked framing: PRX_ERR_HTTP_AMBIGUOUS_FRAMING in every chunking', async (t) => {
  for (const body of INVALID) {
    for (const { name, chunks } of chunkings(b(body), { randomRuns: 5 })) {
      const result = frame(chunks);
      if (result.error?.code !== 'PRX_ERR_HTTP_AMBIGUOUS_FRAMING' || result.error.status !== 400) {
        t.fail(`${JSON.stringify(body)} ${name}: ${JSON.stringify(result)}`);
      }
    }
    t.pass(JSON.stringify(body));
  }
  const response = frame([b('3\r\nabcd')], new ChunkedFramer(RESPONSE_SIDE));
  t.same(response.error, { code: 'PRX_ERR_HTTP_AMBIGUOUS_FRAMING', status: 502 }, 'a response body carries 502');
});

t.test('a failed framer stays failed', async (t) => {
  const framer = new ChunkedFramer(REQUEST_SIDE);
  t.throws(() => framer.push(b('x\r\n')), { code: 'PRX_ERR_HTTP_AMBIGUOUS_FRAMING' });
  t.throws(() => framer.push(b('0\r\n\r\n')), { code: 'PRX_ERR_HTTP_AMBIGUOUS_FRAMING' });
});

t.test('size lines and trailer sections are bounded, whatever the chunking', async (t) => {
  const ext = ';' + 'e'.repeat(100);
  const line = '3' + ext + '\r\n';
  const options = { maxChunkLineBytes: line.length, maxTrailerBytes: 32 };
  t.equal(frame([b(line + 'abc\r\n0\r\n\r\n')], new ChunkedFramer(REQUEST_SIDE, options)).done, true, 'a line of exactly the limit passes');
  const tooLong = b('3' + ext + 'e\r\nabc\r\n0\r\n\r\n');
  for (const { name, chunks } of chunkings(tooLong, { randomRuns: 3 })) {
    t.equal(frame(chunks, new ChunkedFramer(REQUEST_SIDE, options)).error?.code, 'PRX_ERR_HTTP_AMBIGUOUS_FRAMING', name);
  }
  const short = { maxChunkLineBytes: 3 };
  t.equal(frame([b('3\r\nabc\r\n0\r\n\r\n')], new ChunkedFramer(REQUEST_SIDE, short)).done, true, 'a bare size line of exactly the limit');
  t.equal(frame([b('a\r\n0123456789\r\n')], new ChunkedFramer(REQUEST_SIDE, short)).error, undefined, 'one digit');
  t.equal(frame([b('10\r\n')], new ChunkedFramer(REQUEST_SIDE, short)).error?.code, 'PRX_ERR_HTTP_AMBIGUOUS_FRAMING', 'one past it');
  // A size line that never ends fails once it passes the limit, not at the end of the input.
  const endless = new ChunkedFramer(REQUEST_SIDE, { maxChunkLineBytes: 16 });
  t.throws(
    () => {
      for (let i = 0; i < 1000; i++) endless.push(b('0'));
    },
    { code: 'PRX_ERR_HTTP_AMBIGUOUS_FRAMING' },
  );
  const trailer = '0\r\nX: ' + 'x'.repeat(25) + '\r\n\r\n'; // trailer section of exactly 32 bytes
  t.equal(frame([b(trailer)], new ChunkedFramer(REQUEST_SIDE, options)).done, true, 'a trailer section of exactly the limit passes');
  const bigTrailer = b('0\r\nX: ' + 'x'.repeat(26) + '\r\n\r\n');
  for (const { name, chunks } of chunkings(bigTrailer, { randomRuns: 3 })) {
    t.equal(frame(chunks, new ChunkedFramer(REQUEST_SIDE, options)).error?.code, 'PRX_ERR_HTTP_AMBIGUOUS_FRAMING', name);
  }
  const manyTrailers = b('0\r\n' + 'A: 1\r\n'.repeat(6) + '\r\n');
  t.equal(
    frame([manyTrailers], new ChunkedFramer(REQUEST_SIDE, options)).error?.code,
    'PRX_ERR_HTTP_AMBIGUOUS_FRAMING',
    'the limit is on the whole section',
  );
});

t.test('decode() gives the chunk data without its framing, in every chunking, as subarrays', async (t) => {
  const NEXT = 'HTTP/1.1 200 OK\r\n\r\n';
  for (const body of VALID) {
    const input = b(body + NEXT);
    const payload = decodeChunked(b(body)).toString('latin1');
    for (const { name, chunks } of chunkings(input, { randomRuns: 10 })) {
      const framer = new ChunkedFramer(RESPONSE_SIDE);
      const data: Buffer[] = [];
      const rest: Buffer[] = [];
      for (const chunk of chunks) {
        const part = framer.decode(chunk, data);
        rest.push(part.rest);
        // A slice lies inside one of the chunks' own bytes (pooled small buffers share one ArrayBuffer,
        // so the same ArrayBuffer alone would not tell a copy).
        const inside = (d: Buffer): boolean =>
          chunks.some((c) => c.buffer === d.buffer && d.byteOffset >= c.byteOffset && d.byteOffset + d.length <= c.byteOffset + c.length);
        for (const d of data) if (d.length > 0 && !inside(d)) t.fail('a copy');
      }
      const got = Buffer.concat(data).toString('latin1');
      if (got !== payload || Buffer.concat(rest).toString('latin1') !== NEXT || !framer.done) {
        t.fail(`${JSON.stringify(body)} ${name}: ${JSON.stringify(got)}`);
      }
    }
    t.pass(JSON.stringify(body));
  }
  const framer = new ChunkedFramer(RESPONSE_SIDE);
  t.throws(() => framer.decode(b('3\r\nabcd'), []), { code: 'PRX_ERR_HTTP_AMBIGUOUS_FRAMING' }, 'malformed framing still fails');
});

t.test('decodeInPlace() moves the chunk data together inside each chunk, in every chunking; the rest is untouched', async (t) => {
  const NEXT = 'HTTP/1.1 200 OK\r\n\r\n';
  for (const body of VALID) {
    const payload = decodeChunked(b(body)).toString('latin1');
    for (const { name, chunks } of chunkings(b(body + NEXT), { randomRuns: 10 })) {
      const framer = new ChunkedFramer(RESPONSE_SIDE);
      const data: string[] = [];
      const rest: Buffer[] = [];
      // Each chunking's chunks are views of one input: each is copied, as decodeInPlace takes it over.
      for (const chunk of chunks.map((c) => Buffer.from(c))) {
        const { data: got, rest: after } = framer.decodeInPlace(chunk);
        const inside =
          got.buffer === chunk.buffer &&
          got.byteOffset >= chunk.byteOffset &&
          got.byteOffset + got.length <= chunk.byteOffset + chunk.length;
        if (got.length > 0 && !inside) t.fail(`${name}: data outside its chunk`);
        data.push(got.toString('latin1'));
        rest.push(after);
      }
      if (data.join('') !== payload || Buffer.concat(rest).toString('latin1') !== NEXT || !framer.done) {
        t.fail(`${JSON.stringify(body)} ${name}: ${JSON.stringify(data.join(''))}`);
      }
    }
    t.pass(JSON.stringify(body));
  }
  // Three chunks in one read come out as one view over the first's place; what follows stays.
  const read = b('3\r\nabc\r\n2\r\nde\r\n1\r\nf\r\n0\r\n\r\nNEXT');
  const part = new ChunkedFramer(RESPONSE_SIDE).decodeInPlace(read);
  t.equal(part.data.toString('latin1'), 'abcdef');
  t.equal(part.data.byteOffset, read.byteOffset + 3, 'where the first chunk data was');
  t.equal(part.rest.toString('latin1'), 'NEXT');
  t.ok(part.done);
  t.throws(() => new ChunkedFramer(RESPONSE_SIDE).decodeInPlace(b('3\r\nabcd')), { code: 'PRX_ERR_HTTP_AMBIGUOUS_FRAMING' });
});
