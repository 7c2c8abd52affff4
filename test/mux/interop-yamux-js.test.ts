/**
 * Interop with yamux-js 0.2.0, whole frames only. It has defects this test works around, and
 * nothing in src/ depends on it:
 * - A frame split across two socket reads is dropped, so a re-framing shim hands it exactly one
 *   whole frame per chunk.
 * - Its FIN handling checks the wrong flag (its streams never end) and its end()/destroy() send no
 *   FIN or RST, so the exchange is request/reply by byte count, never by end of stream.
 * - It polls for window every 100 ms, so the payloads stay small.
 */

import crypto from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import t from 'tap';
import { Client, Server } from 'yamux-js';
import { FrameType, HEADER_BYTES } from '../../src/mux/frame.js';
import { Session } from '../../src/mux/index.js';
import { nextStream, patternBytes, tcpPair } from '../fixtures/wire/mux-pair.js';

/** Re-chunks a byte stream into exactly one whole yamux frame per chunk. */
class Reframer extends Transform {
  private buffered = Buffer.alloc(0);

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    while (this.buffered.length >= HEADER_BYTES) {
      const length = this.buffered[1] === FrameType.Data ? this.buffered.readUInt32BE(8) : 0;
      if (this.buffered.length < HEADER_BYTES + length) break;
      this.push(this.buffered.subarray(0, HEADER_BYTES + length));
      this.buffered = this.buffered.subarray(HEADER_BYTES + length);
    }
    done();
  }
}

/** Reads exactly `size` bytes from a readable stream. */
function readExactly(stream: NodeJS.ReadableStream, size: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let got = 0;
    const onData = (d: Buffer): void => {
      parts.push(d);
      got += d.length;
      if (got >= size) {
        stream.off('data', onData);
        resolve(Buffer.concat(parts).subarray(0, size));
      }
    };
    stream.on('data', onData);
    stream.once('error', reject);
  });
}

const sha = (b: Buffer): string => crypto.createHash('sha256').update(b).digest('hex');
const quiet = { enableKeepAlive: false, logger: () => undefined };

t.test('ours opens, yamux-js echoes whole frames back', async (t) => {
  const sockets = await tcpPair(t);
  const ours = new Session(sockets.client, { role: 'client', keepaliveIntervalMs: 0 });
  t.teardown(() => ours.destroy());
  const theirs = new Server((stream) => stream.on('data', (d: Buffer) => stream.write(d)), quiet);
  theirs.on('error', () => undefined);
  sockets.server.pipe(new Reframer()).pipe(theirs).pipe(sockets.server);
  for (const size of [5, 60_000, 200_000]) {
    const stream = ours.open();
    const payload = patternBytes(size, `yamux-js-${size}`);
    const echoed = readExactly(stream, size);
    stream.write(payload);
    t.equal(sha(await echoed), sha(payload), `${size} bytes round trip`);
    stream.destroy();
  }
});

t.test('yamux-js opens, ours echoes whole frames back', async (t) => {
  const sockets = await tcpPair(t);
  const ours = new Session(sockets.server, { role: 'server', keepaliveIntervalMs: 0 });
  t.teardown(() => ours.destroy());
  const theirs = new Client(quiet);
  theirs.on('error', () => undefined);
  sockets.client.pipe(new Reframer()).pipe(theirs).pipe(sockets.client);
  const accepted = nextStream(ours);
  const stream = theirs.open();
  const payload = patternBytes(100_000, 'from-yamux-js');
  stream.write(payload);
  const remote = await accepted;
  remote.on('error', () => undefined);
  remote.on('data', (d: Buffer) => remote.write(d));
  t.equal(sha(await readExactly(stream, payload.length)), sha(payload));
});
