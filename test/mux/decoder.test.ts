import t from 'tap';
import { FrameDecoder, type FrameHandler } from '../../src/mux/decoder.js';
import { encodeHeader, Flag, type FrameHeader, FrameType } from '../../src/mux/frame.js';
import { MuxError } from '../../src/mux/mux-error.js';
import { patternBytes } from '../fixtures/wire/mux-pair.js';

/** A wire image: a mix of every frame type, flags on data, empty and large payloads. */
function sampleWire(): { wire: Buffer; expected: string[] } {
  const parts: Buffer[] = [];
  const expected: string[] = [];
  const frame = (type: FrameType, flags: number, id: number, length: number, payload?: Buffer): void => {
    parts.push(encodeHeader(type, flags, id, length));
    if (payload) parts.push(payload);
    expected.push(`${type}/${flags}/${id}/${length}` + (payload ? `:${payload.toString('base64')}` : ''));
  };
  frame(FrameType.WindowUpdate, Flag.SYN, 1, 0);
  frame(FrameType.Data, 0, 1, 5, Buffer.from('hello'));
  frame(FrameType.Ping, Flag.SYN, 0, 0xdeadbeef);
  frame(FrameType.Data, Flag.SYN | Flag.FIN, 3, 3000, patternBytes(3000, 'a'));
  frame(FrameType.Data, Flag.FIN, 1, 0);
  frame(FrameType.WindowUpdate, 0, 3, 1 << 20);
  frame(FrameType.Data, 0, 5, 70_000, patternBytes(70_000, 'b'));
  frame(FrameType.GoAway, 0, 0, 0);
  return { wire: Buffer.concat(parts), expected };
}

/** Decodes `pieces` in order and returns what the handler saw, payload pieces joined per frame. */
function decode(pieces: Buffer[]): string[] {
  const seen: string[] = [];
  let payload: Buffer[] = [];
  const key = (h: FrameHeader): string => `${h.type}/${h.flags}/${h.streamId}/${h.length}`;
  const handler: FrameHandler = {
    onHeader: () => {
      payload = [];
    },
    onData: (_h, chunk) => {
      payload.push(Buffer.from(chunk));
    },
    onFrameEnd: (h) => seen.push(key(h) + (payload.length ? `:${Buffer.concat(payload).toString('base64')}` : '')),
  };
  const decoder = new FrameDecoder(handler);
  for (const p of pieces) decoder.push(p);
  return seen;
}

function splitAt(buf: Buffer, points: number[]): Buffer[] {
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of [...points, buf.length]) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  return out;
}

const { wire, expected } = sampleWire();

t.test('whole input, and many frames in one chunk', async (t) => {
  t.same(decode([wire]), expected);
});

t.test('split at every position of the first 200 bytes and around every header', async (t) => {
  for (let i = 0; i <= 200; i++) t.same(decode(splitAt(wire, [i])), expected, `split at ${i}`);
  for (let i = wire.length - 40; i <= wire.length; i++) t.same(decode(splitAt(wire, [i])), expected, `split at ${i}`);
});

t.test('one byte at a time', async (t) => {
  const pieces: Buffer[] = [];
  for (let i = 0; i < wire.length; i++) pieces.push(wire.subarray(i, i + 1));
  t.same(decode(pieces), expected);
});

t.test('random splits (seeded)', async (t) => {
  let seed = 42;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  for (let round = 0; round < 200; round++) {
    const points = Array.from({ length: 1 + rand(30) }, () => rand(wire.length)).sort((a, b) => a - b);
    t.same(decode(splitAt(wire, points)), expected, `round ${round}`);
  }
});

t.test('payload is handed on as views, never buffered whole', async (t) => {
  const sizes: number[] = [];
  const decoder = new FrameDecoder({ onHeader() {}, onData: (_h, c) => sizes.push(c.length), onFrameEnd() {} });
  const big = Buffer.concat([encodeHeader(FrameType.Data, 0, 1, 1000), Buffer.alloc(1000)]);
  decoder.push(big.subarray(0, 112));
  t.same(sizes, [100], 'the first 100 payload bytes arrive before the rest of the frame');
});

t.test('a bad version or unknown type throws a coded protocol error', async (t) => {
  const bad = encodeHeader(FrameType.Data, 0, 1, 0);
  bad[0] = 1;
  t.throws(() => decode([bad]), { code: 'PRX_ERR_MUX_BAD_VERSION', goAwayCode: 1 });
  const unknown = encodeHeader(FrameType.Data, 0, 1, 0);
  unknown[1] = 4;
  t.throws(() => decode([unknown]), { code: 'PRX_ERR_MUX_UNKNOWN_TYPE', goAwayCode: 1 });
  try {
    decode([unknown]);
  } catch (err) {
    t.ok(err instanceof MuxError);
  }
});
