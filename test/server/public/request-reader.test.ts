import t from 'tap';
import type { RequestHead } from '../../../src/proto/http/request-head.js';
import { RequestReader } from '../../../src/server/public/request-reader.js';

/** A reader whose sink logs what it is given; `verdicts` answers heads in turn (true when exhausted). */
function reader(verdicts: (boolean | 'hold')[]) {
  const log: string[] = [];
  const heads: RequestHead[] = [];
  const r = new RequestReader(16384, {
    head: (head) => {
      heads.push(head);
      const verdict = verdicts.shift() ?? true;
      log.push(`head ${head.target} ${verdict}`);
      return verdict;
    },
    body: (bytes) => void log.push(`body ${bytes.toString()}`),
    end: (head) => {
      log.push(`end ${head.target}`);
      return true;
    },
  });
  return { r, log, heads };
}

const post = (path: string, body: string, length = body.length) =>
  `POST ${path} HTTP/1.1\r\nHost: a\r\nContent-Length: ${length}\r\n\r\n${body}`;

t.test('a held head keeps itself and what follows until release(), which offers the same head again', async (t) => {
  const { r, log, heads } = reader([true, 'hold']);
  r.push(Buffer.from(post('/1', 'one') + post('/2', 'tw', 3)));
  t.same(log, ['head /1 true', 'body one', 'end /1', 'head /2 hold']);
  t.ok(r.holding, 'holding');
  t.notOk(r.midHead || r.midBody, 'between requests as far as deadlines go');
  r.push(Buffer.from('o' + post('/3', 'three')));
  t.equal(log.length, 4, 'bytes pushed while holding are kept, not read');
  r.release();
  t.notOk(r.holding);
  t.same(log.slice(4), ['head /2 true', 'body two', 'end /2', 'head /3 true', 'body three', 'end /3'], 'the held request, then the rest');
  t.equal(heads[1], heads[2], 'the very head that was held');
});

t.test('a head held with nothing after it is still offered again; stop() drops what is held', async (t) => {
  const first = reader(['hold']);
  first.r.push(Buffer.from('GET /only HTTP/1.1\r\nHost: a\r\n\r\n'));
  first.r.release();
  t.same(first.log, ['head /only hold', 'head /only true', 'end /only']);

  const second = reader(['hold']);
  second.r.push(Buffer.from(post('/1', 'x')));
  second.r.stop();
  second.r.release();
  second.r.push(Buffer.from(post('/2', 'y')));
  t.same(second.log, ['head /1 hold'], 'nothing read after stop()');
});
