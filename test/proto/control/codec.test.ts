import t from 'tap';
import {
  decodePreamble,
  encodeMessage,
  encodePreamble,
  MAX_MESSAGE_BYTES,
  MessageDecoder,
  PROTOCOL_VERSION,
  versionMismatch,
} from '../../../src/proto/control/codec.js';
import { parseChallenge, parseControlStreamMessage, parseLogin, parseOpen, parseOpened } from '../../../src/proto/control/messages.js';

const messages = [
  { type: 'challenge', nonce: 'n'.repeat(43), serverVersion: '0.1.0' },
  { type: 'login', name: 'alpha', keyId: '0123456789abcdef', timeMs: 1_764_000_000_000, proof: 'p'.repeat(64), clientVersion: '0.1.0' },
  {
    type: 'advertise',
    services: [
      {
        name: 'ollama',
        kind: 'ollama',
        expose: 'network',
        maxConcurrent: 2,
        models: [{ name: 'llama3.2:latest', digest: 'a80c', size: 2019393189 }],
      },
    ],
  },
  { type: 'open', service: 'web', remoteAddress: '203.0.113.7', remotePort: 51234, tls: false, via: 'public' },
  { type: 'opened', note: 'ünïcödé ✓' },
];
const wire = Buffer.concat(messages.map((m) => encodeMessage(m)));

t.test('messages decode however the bytes arrive', async (t) => {
  const whole = new MessageDecoder().push(wire);
  t.same(whole, messages);
  for (let cut = 0; cut <= wire.length; cut++) {
    const d = new MessageDecoder();
    t.same([...d.push(wire.subarray(0, cut)), ...d.push(wire.subarray(cut))], messages, `split at ${cut}`);
  }
  const d = new MessageDecoder();
  const out = [];
  for (let i = 0; i < wire.length; i++) out.push(...d.push(wire.subarray(i, i + 1)));
  t.same(out, messages, 'one byte at a time');
  t.equal(d.buffered, 0);
});

t.test('bytes after the last message are kept for whoever reads next', async (t) => {
  const d = new MessageDecoder();
  const tail = Buffer.from([0, 0, 0, 0, 1, 2, 3]);
  t.same(d.push(Buffer.concat([encodeMessage({ type: 'welcome' }), tail]), 1), [{ type: 'welcome' }]);
  t.same(d.takeRest(), tail);
});

t.test('the size cap holds both ways, checked on the length before any body is buffered', async (t) => {
  t.throws(() => encodeMessage({ type: 'x', pad: 'y'.repeat(MAX_MESSAGE_BYTES) }), { code: 'PRX_ERR_MESSAGE_TOO_LARGE' });
  const header = Buffer.alloc(4);
  header.writeUInt32BE(MAX_MESSAGE_BYTES + 1);
  t.throws(() => new MessageDecoder().push(header), { code: 'PRX_ERR_MESSAGE_TOO_LARGE' });
});

t.test('non-JSON and non-object messages are PRX_ERR_MESSAGE_INVALID', async (t) => {
  for (const body of ['{nope', '[1,2]', '"s"', 'null']) {
    const b = Buffer.from(body);
    const framed = Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
    t.throws(() => new MessageDecoder().push(framed), { code: 'PRX_ERR_MESSAGE_INVALID' }, body);
  }
});

t.test('preamble: magic and version; a TLS hello or HTTP request is named as such', async (t) => {
  t.equal(decodePreamble(encodePreamble()), PROTOCOL_VERSION);
  t.equal(decodePreamble(encodePreamble(7)), 7);
  t.throws(() => decodePreamble(Buffer.from('GET /')), { code: 'PRX_ERR_HANDSHAKE_MAGIC' });
  t.throws(() => decodePreamble(Buffer.from([0x16, 3, 1, 0, 5])), { code: 'PRX_ERR_HANDSHAKE_MAGIC', message: /TLS/ });
});

t.test("message checks name the bad field; an error message becomes the peer's coded error", async (t) => {
  t.same(parseLogin(messages[1]!), messages[1]);
  t.same(parseChallenge(messages[0]!), messages[0]);
  t.same(parseOpen(messages[3]!), messages[3]);
  t.same(parseOpened(messages[4]!), { type: 'opened' });
  t.throws(() => parseLogin({ ...messages[1], timeMs: 'soon' }), { code: 'PRX_ERR_MESSAGE_INVALID', message: /timeMs/ });
  t.throws(() => parseOpen({ ...messages[3], tls: 'no' }), { message: /tls/ });
  t.throws(() => parseLogin({ type: 'welcome' }), { code: 'PRX_ERR_MESSAGE_INVALID', message: /type/ });
  t.throws(() => parseOpened({ type: 'error', code: 'PRX_ERR_TARGET_UNREACHABLE', message: 'connect ECONNREFUSED' }), {
    code: 'PRX_ERR_TARGET_UNREACHABLE',
    message: 'connect ECONNREFUSED',
  });
  t.throws(() => parseOpened({ type: 'error', code: 'EVIL', message: 'x' }), { code: 'PRX_ERR_MESSAGE_INVALID' });
  t.same(parseControlStreamMessage(messages[2]!), messages[2]);
  t.throws(() => parseControlStreamMessage({ type: 'advertise', services: [{ name: 'x', kind: 'ftp' }] }), {
    message: /services\[0\]\.kind/,
  });
  t.throws(() => parseControlStreamMessage({ type: 'advertise', services: [{ name: 'x', kind: 'ollama', models: [{ name: 'm' }] }] }), {
    message: /services\[0\]\.models\[0\]\.digest/,
  });
  t.throws(() => parseControlStreamMessage({ type: 'teleport' }), { code: 'PRX_ERR_MESSAGE_INVALID' });
});

t.test('a version mismatch says which program to upgrade: the one with the older version', async (t) => {
  const newer = PROTOCOL_VERSION + 1;
  const older = PROTOCOL_VERSION - 1;
  const cases = [
    [newer, 'server', /upgrade proxima-server/],
    [older, 'server', /upgrade proxima-client/],
    [newer, 'client', /upgrade proxima-client/],
    [older, 'client', /upgrade proxima-server/],
  ] as const;
  for (const [peer, local, upgrade] of cases) {
    const err = versionMismatch(peer, local);
    t.equal(err.code, 'PRX_ERR_VERSION_MISMATCH');
    t.match(err.message, upgrade, `${local} meeting version ${peer}`);
    t.match(err.message, new RegExp(`version ${PROTOCOL_VERSION}\\b.*version ${peer}\\b`));
  }
});
