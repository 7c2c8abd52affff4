import crypto from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import t from 'tap';
import { collect, patternBytes, readAll, sessionPair, writeRepeated } from '../fixtures/wire/mux-pair.js';

t.test('64 MiB through one stream, echoed back, arrives with matching SHA-256 both ways', async (t) => {
  const { client, server } = await sessionPair(t);
  const serverSide = new Promise<{ bytes: number; sha256: string }>((resolve, reject) => {
    server.once('stream', (s) => {
      const hash = crypto.createHash('sha256');
      let bytes = 0;
      s.on('data', (d: Buffer) => {
        hash.update(d);
        bytes += d.length;
      });
      s.on('end', () => resolve({ bytes, sha256: hash.digest('hex') }));
      s.on('error', reject);
      pipeline(s, s).catch(reject); // echo
    });
  });
  const stream = client.open();
  const total = 64 * 1024 * 1024;
  const [sent, echoed] = await Promise.all([writeRepeated(stream, patternBytes(256 * 1024), total), readAll(stream)]);
  const received = await serverSide;
  t.same(received, { bytes: total, sha256: sent }, 'the server received every byte');
  t.same(echoed, { bytes: total, sha256: sent }, 'the client received every byte back');
  t.equal(client.streamCount, 0, 'the stream is gone once both sides finished');
});

t.test('100 streams of 2 MiB at once, each direction, all intact', async (t) => {
  const { client, server } = await sessionPair(t);
  const size = 2 * 1024 * 1024;
  server.on('stream', (s) => {
    // Each stream gets its own reply payload so that a mix-up between streams shows.
    readAll(s)
      .then(async (got) => {
        const reply = patternBytes(size, got.sha256);
        s.end(Buffer.concat([Buffer.from(got.sha256 + '\n'), reply]));
      })
      .catch(() => s.destroy());
  });
  const results = await Promise.all(
    Array.from({ length: 100 }, async (_, i) => {
      const stream = client.open();
      const payload = patternBytes(size, `stream-${i}`);
      const sent = crypto.createHash('sha256').update(payload).digest('hex');
      const [, back] = await Promise.all([writeRepeated(stream, payload, size), collect(stream)]);
      const newline = back.indexOf(10);
      return {
        serverSaw: back.subarray(0, newline).toString(),
        sent,
        reply: crypto
          .createHash('sha256')
          .update(back.subarray(newline + 1))
          .digest('hex'),
        expectedReply: crypto.createHash('sha256').update(patternBytes(size, sent)).digest('hex'),
      };
    }),
  );
  for (const [i, r] of results.entries()) {
    t.equal(r.serverSaw, r.sent, `stream ${i}: server hash matches`);
    t.equal(r.reply, r.expectedReply, `stream ${i}: reply hash matches`);
  }
  t.equal(server.streamCount, 0);
});
