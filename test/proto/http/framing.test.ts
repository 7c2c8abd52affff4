import t from 'tap';
import { chunkings, seededRandom } from '../../fixtures/wire/chunkings.js';
import { decodeChunked, readRequests, summary } from '../../fixtures/wire/http-messages.js';
import { NodeHttpOracle } from '../../fixtures/wire/node-http-oracle.js';

const BAD = 'PRX_ERR_HTTP_BAD_REQUEST';
const AMBIGUOUS = 'PRX_ERR_HTTP_AMBIGUOUS_FRAMING';
const H = 'POST / HTTP/1.1\r\nHost: a\r\n';

/**
 * Request-smuggling vectors from RFC 9112 (6.1, 6.3, 11.2) and published research (Linhart et al.
 * 2005, Kettle's CL.TE/TE.CL/TE.TE 2019, "funky chunks" 2025). `reject` is the code expected;
 * otherwise the bodies (payload, chunked decoded) of the requests read, in order.
 */
const VECTORS: { name: string; input: string; reject?: string; bodies?: string[] }[] = [
  { name: 'CL.TE', input: H + 'Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG', reject: AMBIGUOUS },
  { name: 'TE.CL', input: H + 'Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n', reject: AMBIGUOUS },
  { name: 'CL.TE with CL 0', input: H + 'Content-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', reject: AMBIGUOUS },
  { name: 'TE xchunked', input: H + 'Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n', reject: AMBIGUOUS },
  { name: 'TE chunked, identity', input: H + 'Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n', reject: AMBIGUOUS },
  { name: 'TE identity, chunked', input: H + 'Transfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n', reject: AMBIGUOUS },
  { name: 'TE gzip, chunked', input: H + 'Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n', reject: AMBIGUOUS },
  { name: 'TE chunked, chunked', input: H + 'Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n', reject: AMBIGUOUS },
  { name: 'TE twice', input: H + 'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', reject: AMBIGUOUS },
  { name: 'TE twice, second cow', input: H + 'Transfer-Encoding: chunked\r\nTransfer-Encoding: cow\r\n\r\n0\r\n\r\n', reject: AMBIGUOUS },
  { name: 'TE empty list element', input: H + 'Transfer-Encoding: ,chunked\r\n\r\n0\r\n\r\n', reject: AMBIGUOUS },
  { name: 'TE empty', input: H + 'Transfer-Encoding:\r\n\r\n', reject: AMBIGUOUS },
  { name: 'TE with parameter', input: H + 'Transfer-Encoding: chunked;q=1\r\n\r\n0\r\n\r\n', reject: AMBIGUOUS },
  { name: 'TE quoted', input: H + 'Transfer-Encoding: "chunked"\r\n\r\n0\r\n\r\n', reject: AMBIGUOUS },
  { name: 'TE on HTTP/1.0', input: 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', reject: AMBIGUOUS },
  { name: 'Transfer_Encoding lookalike', input: H + 'Transfer_Encoding: chunked\r\n\r\n', reject: AMBIGUOUS },
  { name: 'Content_Length lookalike', input: H + 'Content_Length: 5\r\n\r\n', reject: AMBIGUOUS },
  { name: 'TE trailing space', input: H + 'Transfer-Encoding: chunked \r\n\r\n3\r\nabc\r\n0\r\n\r\n', bodies: ['abc'] },
  { name: 'TE HTAB before value', input: H + 'Transfer-Encoding:\tchunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n', bodies: ['abc'] },
  { name: 'TE upper case', input: H + 'TRANSFER-ENCODING: CHUNKED\r\n\r\n3\r\nabc\r\n0\r\n\r\n', bodies: ['abc'] },
  { name: 'TE vertical tab', input: H + 'Transfer-Encoding: \x0bchunked\r\n\r\n0\r\n\r\n', reject: BAD },
  { name: 'TE form feed', input: H + 'Transfer-Encoding: chunked\x0c\r\n\r\n0\r\n\r\n', reject: BAD },
  { name: 'TE space before colon', input: H + 'Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n', reject: BAD },
  { name: 'TE obs-fold', input: H + 'X: y\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n', reject: BAD },
  { name: 'TE value folded', input: H + 'Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n', reject: BAD },
  { name: 'TE hidden by bare CR', input: H + 'X: y\rTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', reject: BAD },
  { name: 'TE hidden by bare LF', input: H + 'X: y\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', reject: BAD },
  { name: 'TE name with NUL', input: H + 'Transfer-Encoding\x00: chunked\r\n\r\n0\r\n\r\n', reject: BAD },
  { name: 'TE non-ASCII name', input: H + 'Tr\xe0nsfer-Encoding: chunked\r\n\r\n0\r\n\r\n', reject: BAD },
  { name: 'duplicate CL, equal', input: H + 'Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc', reject: AMBIGUOUS },
  { name: 'duplicate CL, different', input: H + 'Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd', reject: AMBIGUOUS },
  { name: 'CL list', input: H + 'Content-Length: 3, 3\r\n\r\nabc', reject: AMBIGUOUS },
  { name: 'CL +5', input: H + 'Content-Length: +3\r\n\r\nabc', reject: AMBIGUOUS },
  { name: 'CL -1', input: H + 'Content-Length: -1\r\n\r\n', reject: AMBIGUOUS },
  { name: 'CL hex', input: H + 'Content-Length: 0x3\r\n\r\nabc', reject: AMBIGUOUS },
  { name: 'CL exponent', input: H + 'Content-Length: 1e1\r\n\r\n', reject: AMBIGUOUS },
  { name: 'CL inner space', input: H + 'Content-Length: 3 4\r\n\r\nabc', reject: AMBIGUOUS },
  { name: 'CL empty', input: H + 'Content-Length:\r\n\r\n', reject: AMBIGUOUS },
  { name: 'CL huge', input: H + 'Content-Length: 99999999999999999999\r\n\r\n', reject: AMBIGUOUS },
  { name: 'CL fullwidth digit', input: H + 'Content-Length: \xef\xbc\x93\r\n\r\nabc', reject: AMBIGUOUS },
  { name: 'CL vertical tab', input: H + 'Content-Length: 3\x0b\r\n\r\nabc', reject: BAD },
  { name: 'CL trailing spaces', input: H + 'Content-Length: 3  \r\n\r\nabc', bodies: ['abc'] },
  { name: 'CL trailing HTAB', input: H + 'Content-Length: 3\t\r\n\r\nabc', reject: AMBIGUOUS },
  { name: 'CL leading HTAB', input: H + 'Content-Length:\t3\r\n\r\nabc', bodies: ['abc'] },
  { name: 'TE trailing HTAB', input: H + 'Transfer-Encoding: chunked\t\r\n\r\n0\r\n\r\n', reject: AMBIGUOUS },
  { name: 'CL leading zeros', input: H + 'Content-Length: 003\r\n\r\nabc', bodies: ['abc'] },
  { name: 'CL then pipelined request', input: H + 'Content-Length: 3\r\n\r\nabcGET /two HTTP/1.1\r\nHost: a\r\n\r\n', bodies: ['abc', ''] },
  { name: 'CL 0 then pipelined request', input: H + 'Content-Length: 0\r\n\r\nGET /two HTTP/1.1\r\nHost: a\r\n\r\n', bodies: ['', ''] },
  {
    name: 'GET with chunked body',
    input: 'GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
    bodies: ['abc'],
  },
  { name: 'chunk size 0x5', input: H + 'Transfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n', reject: AMBIGUOUS },
  { name: 'chunk size +3', input: H + 'Transfer-Encoding: chunked\r\n\r\n+3\r\nabc\r\n0\r\n\r\n', reject: AMBIGUOUS },
  { name: 'chunk size -3', input: H + 'Transfer-Encoding: chunked\r\n\r\n-3\r\nabc\r\n0\r\n\r\n', reject: AMBIGUOUS },
  { name: 'chunk size leading space', input: H + 'Transfer-Encoding: chunked\r\n\r\n 3\r\nabc\r\n0\r\n\r\n', reject: AMBIGUOUS },
  { name: 'chunk size trailing space', input: H + 'Transfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n', reject: AMBIGUOUS },
  { name: 'chunk ext after space (BWS)', input: H + 'Transfer-Encoding: chunked\r\n\r\n3 ;a=b\r\nabc\r\n0\r\n\r\n', reject: AMBIGUOUS },
  {
    name: 'chunk size too many digits',
    input: H + 'Transfer-Encoding: chunked\r\n\r\n10000000000000003\r\nabc\r\n0\r\n\r\n',
    reject: AMBIGUOUS,
  },
  {
    name: 'chunk size overflowing 64 bits',
    input: H + 'Transfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\nabc\r\n0\r\n\r\n',
    reject: AMBIGUOUS,
  },
  { name: 'chunk size empty', input: H + 'Transfer-Encoding: chunked\r\n\r\n\r\nabc\r\n0\r\n\r\n', reject: AMBIGUOUS },
  { name: 'chunk size LF only', input: H + 'Transfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n', reject: AMBIGUOUS },
  { name: 'chunk ext with bare LF', input: H + 'Transfer-Encoding: chunked\r\n\r\n3;a\nb\r\nabc\r\n0\r\n\r\n', reject: AMBIGUOUS },
  { name: 'chunk ext with bare CR', input: H + 'Transfer-Encoding: chunked\r\n\r\n3;a\rb\r\nabc\r\n0\r\n\r\n', reject: AMBIGUOUS },
  { name: 'chunk ext empty name', input: H + 'Transfer-Encoding: chunked\r\n\r\n3;\r\nabc\r\n0\r\n\r\n', reject: AMBIGUOUS },
  { name: 'chunk ext empty value', input: H + 'Transfer-Encoding: chunked\r\n\r\n3;a=\r\nabc\r\n0\r\n\r\n', reject: AMBIGUOUS },
  { name: 'chunk ext unterminated quote', input: H + 'Transfer-Encoding: chunked\r\n\r\n3;a="b\r\nabc\r\n0\r\n\r\n', reject: AMBIGUOUS },
  { name: 'chunk ext token', input: H + 'Transfer-Encoding: chunked\r\n\r\n3;a=b;c\r\nabc\r\n0\r\n\r\n', bodies: ['abc'] },
  { name: 'chunk ext quoted', input: H + 'Transfer-Encoding: chunked\r\n\r\n3;a="b \\" c"\r\nabc\r\n0\r\n\r\n', bodies: ['abc'] },
  { name: 'chunk data too long (TE.CL payload)', input: H + 'Transfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n', reject: AMBIGUOUS },
  { name: 'chunk data LF only', input: H + 'Transfer-Encoding: chunked\r\n\r\n3\r\nabc\n0\r\n\r\n', reject: AMBIGUOUS },
  { name: 'chunk data no CRLF', input: H + 'Transfer-Encoding: chunked\r\n\r\n3\r\nabc0\r\n\r\n', reject: AMBIGUOUS },
  { name: 'last chunk LF only', input: H + 'Transfer-Encoding: chunked\r\n\r\n0\n\r\n', reject: AMBIGUOUS },
  { name: 'final CRLF LF only', input: H + 'Transfer-Encoding: chunked\r\n\r\n0\r\n\n', reject: AMBIGUOUS },
  {
    name: 'upper-case hex, leading zero',
    input: H + 'Transfer-Encoding: chunked\r\n\r\n0A\r\n0123456789\r\n0\r\n\r\n',
    bodies: ['0123456789'],
  },
  { name: 'trailer field', input: H + 'Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Checksum: 1\r\n\r\n', bodies: ['abc'] },
  { name: 'Content-Length in a trailer', input: H + 'Transfer-Encoding: chunked\r\n\r\n0\r\nContent-Length: 5\r\n\r\n', reject: AMBIGUOUS },
  {
    name: 'Transfer-Encoding in a trailer',
    input: H + 'Transfer-Encoding: chunked\r\n\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n',
    reject: AMBIGUOUS,
  },
  { name: 'Host in a trailer', input: H + 'Transfer-Encoding: chunked\r\n\r\n0\r\nHost: b\r\n\r\n', reject: AMBIGUOUS },
  { name: 'trailer space before colon', input: H + 'Transfer-Encoding: chunked\r\n\r\n0\r\nX-T : 1\r\n\r\n', reject: AMBIGUOUS },
  { name: 'trailer obs-fold', input: H + 'Transfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n 2\r\n\r\n', reject: AMBIGUOUS },
  { name: 'trailer bare LF', input: H + 'Transfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\n\r\n', reject: AMBIGUOUS },
  {
    name: 'chunked then pipelined request',
    input: H + 'Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /two HTTP/1.1\r\nHost: a\r\n\r\n',
    bodies: ['abc', ''],
  },
  { name: 'bare CR in a value', input: 'GET / HTTP/1.1\r\nHost: a\r\nX: 1\r2\r\n\r\n', reject: BAD },
  { name: 'LF-only head', input: 'GET / HTTP/1.1\nHost: a\n\n', reject: BAD },
  { name: 'two Host fields', input: 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', reject: BAD },
  { name: 'missing Host', input: 'GET / HTTP/1.1\r\n\r\n', reject: BAD },
  { name: 'HTTP/2 preface', input: 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', reject: BAD },
  { name: 'HTTP/1.2', input: 'GET / HTTP/1.2\r\nHost: a\r\n\r\n', reject: BAD },
];

t.test('smuggling vectors: refused with their code, or read as llhttp reads them', async (t) => {
  const oracle = new NodeHttpOracle();
  await oracle.listen();
  t.teardown(() => oracle.close());
  for (const vector of VECTORS) {
    const input = Buffer.from(vector.input, 'latin1');
    const whole = readRequests([input]);
    const expected = JSON.stringify(summary(whole));
    for (const { name, chunks } of chunkings(input, { randomRuns: 5 })) {
      const read = readRequests(chunks);
      if (JSON.stringify(summary(read)) !== expected) t.fail(`${vector.name}: ${name} reads differently`);
    }
    const verdict = await oracle.send(input);
    const llhttpRefuses = verdict.error !== undefined || verdict.requests.some((r) => !r.complete);
    if (vector.reject !== undefined) {
      t.equal(whole.errorCode, vector.reject, `${vector.name}: refused`);
      if (!llhttpRefuses) t.comment(`${vector.name}: stricter than llhttp, which accepts it`);
      continue;
    }
    t.equal(whole.errorCode, undefined, `${vector.name}: accepted`);
    t.notOk(llhttpRefuses, `${vector.name}: llhttp accepts it too (${verdict.error})`);
    const ours = whole.messages.map((m) => (m.head.framing.kind === 'chunked' ? decodeChunked(m.body) : m.body).toString('latin1'));
    t.same(ours, vector.bodies, `${vector.name}: bodies`);
    t.same(
      verdict.requests.map((r) => r.body.toString('latin1')),
      ours,
      `${vector.name}: llhttp reads the same bodies`,
    );
    t.same(
      verdict.requests.map((r) => r.url),
      whole.messages.map((m) => m.head.target),
      `${vector.name}: same targets`,
    );
  }
});

/** Fragments that parsers have disagreed on, recombined at random by a seeded generator. */
const FRAMING_LINES = [
  'Content-Length: 5',
  'Content-Length:5',
  'Content-Length: 05',
  'Content-Length: 5 ',
  'Content-Length: 5\t',
  'Content-Length: +5',
  'Content-Length: 5, 5',
  'Content-Length: 0',
  'Content-Length: 9',
  'content-length: 5',
  'Content-Length : 5',
  ' Content-Length: 5',
  'Content-Length: 5\r',
  'Content_Length: 5',
  'Transfer-Encoding: chunked',
  'Transfer-Encoding: Chunked',
  'Transfer-Encoding:chunked',
  'Transfer-Encoding: chunked ',
  'Transfer-Encoding: chunked\t',
  'Transfer-Encoding: gzip, chunked',
  'Transfer-Encoding: chunked, gzip',
  'Transfer-Encoding: identity',
  'Transfer-Encoding: xchunked',
  'Transfer-Encoding:\x0bchunked',
  'Transfer-Encoding\t: chunked',
  'Transfer-Encoding: ,chunked',
  'X: y',
  'X: y\rTransfer-Encoding: chunked',
  'X:\x00',
  'Host: b',
];
const CHUNKED_BODIES = [
  '5\r\nhello\r\n0\r\n\r\n',
  '5;e=1\r\nhello\r\n0\r\n\r\n',
  '0\r\n\r\n',
  '5\r\nhello\r\n0\r\nT: 1\r\n\r\n',
  '5\nhello\r\n0\r\n\r\n',
  '0x5\r\nhello\r\n0\r\n\r\n',
  '5 \r\nhello\r\n0\r\n\r\n',
  '5\r\nhello\n0\r\n\r\n',
  '5\r\nhello\r\n0\r\nContent-Length: 1\r\n\r\n',
  '05\r\nhello\r\n0\r\n\r\n',
  '5\r\nhello!!\r\n0\r\n\r\n',
];
const PLAIN_BODIES = ['', 'hello', 'hello!!'];

t.test('differential: random hostile requests are never read differently from llhttp', async (t) => {
  const oracle = new NodeHttpOracle();
  await oracle.listen();
  t.teardown(() => oracle.close());
  const random = seededRandom(2024);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const tally = { bothAccept: 0, bothRefuse: 0, onlyWeRefuse: 0 };
  for (let run = 0; run < 500; run++) {
    const version = random() < 0.85 ? '1.1' : '1.0';
    const lines = [random() < 0.95 ? 'Host: a' : 'X-No-Host: 1'];
    const count = Math.floor(random() * 3);
    if (random() < 0.3) lines.push(pick(['Content-Length: 5', 'Transfer-Encoding: chunked']));
    for (let i = 0; i < count; i++) lines.splice(Math.floor(random() * (lines.length + 1)), 0, pick(FRAMING_LINES));
    const eol = random() < 0.95 ? '\r\n' : '\n';
    // Mostly a body that fits the framing fields, sometimes one that does not.
    const misfit = random() < 0.2;
    const body =
      lines.some((l) => /chunked/i.test(l)) !== misfit
        ? pick(CHUNKED_BODIES)
        : misfit
          ? pick(PLAIN_BODIES)
          : lines.some((l) => /length.*5/i.test(l))
            ? 'hello'
            : '';
    let text = `POST /${run} HTTP/${version}\r\n` + lines.map((l) => l + eol).join('') + '\r\n' + body;
    // Node closes a connection that is not persistent, so pipeline only after an HTTP/1.1 request.
    if (version === '1.1' && random() < 0.5) text += 'GET /second HTTP/1.1\r\nHost: a\r\n\r\n';
    const input = Buffer.from(text, 'latin1');
    const ours = readRequests([input]);
    const verdict = await oracle.send(input);
    const label = JSON.stringify(text);
    // Input that ends inside a head or a body is refused at its end by both (llhttp: at EOF).
    const weRefuse = ours.errorCode !== undefined || ours.pendingBytes > 0 || ours.messages.some((m) => !m.complete);
    if (verdict.error !== undefined) {
      if (!weRefuse) t.fail(`${label}: llhttp refuses (${verdict.error}), we accept`);
      else tally.bothRefuse++;
      continue;
    }
    if (weRefuse) {
      tally.onlyWeRefuse++;
      continue;
    }
    const read = ours.messages.map((m) => ({
      url: m.head.target,
      body: (m.head.framing.kind === 'chunked' ? decodeChunked(m.body) : m.body).toString('latin1'),
    }));
    const seen = verdict.requests.map((r) => ({ url: r.url, body: r.body.toString('latin1') }));
    if (JSON.stringify(read) !== JSON.stringify(seen)) t.same(read, seen, `${label}: read as llhttp reads it`);
    else tally.bothAccept++;
  }
  t.comment(`both accept ${tally.bothAccept}, both refuse ${tally.bothRefuse}, only we refuse ${tally.onlyWeRefuse}`);
  t.ok(tally.bothAccept > 50 && tally.bothRefuse > 50, 'the generator exercises both outcomes');
});
