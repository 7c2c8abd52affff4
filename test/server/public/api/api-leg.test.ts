/**
 * The API leg on real sockets: request bodies however they are cut, pipelined requests answered in
 * order (each handed to the API once the answer before it is complete), backpressure both ways, a
 * user leaving, and failures before and after the head.
 */
import { once } from 'node:events';
import t from 'tap';
import type { HttpRequest, HttpResponse } from '../../../../src/http/exchange.js';
import { readRequestBody } from '../../../../src/http/request-body.js';
import { parseResponses, rawConnect, startTunnel } from '../../../fixtures/stacks/tunnel.js';

const HOST = 'proxima.test';

/** Resolves with the request's body. */
function bodyOf(req: HttpRequest): Promise<Buffer> {
  return readRequestBody(req, { maxBodyBytes: 64 * 1024 * 1024, bodyTimeoutMs: 30_000 });
}

t.test('a body cut at every offset reaches the API whole (Content-Length and chunked)', async (t) => {
  const tunnel = await startTunnel(t, {
    api: async (req, res) => res.end(`${req.url}:${(await bodyOf(req)).toString()}`),
  });
  const body = 'hello, body';
  const sized = `POST /sized HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  const chunked = `POST /chunked HTTP/1.1\r\nHost: ${HOST}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n, body\r\n0\r\nX-T: 1\r\n\r\n`;
  for (const request of [sized, chunked]) {
    const path = request.slice(5, request.indexOf(' HTTP'));
    const conn = await rawConnect(t, tunnel.port);
    conn.socket.setNoDelay(true);
    let expected = 0;
    for (let cut = 1; cut < request.length; cut++) {
      conn.socket.write(request.slice(0, cut));
      conn.socket.write(request.slice(cut));
      expected++;
    }
    while (parseResponses(conn.received()).length < expected) await once(conn.socket, 'data');
    const answers = parseResponses(conn.received());
    t.same(
      new Set(answers.map((a) => a.text)),
      new Set([`${path}:${body}`]),
      `${path}: cut at each of ${expected} offsets, every body whole`,
    );
    t.equal(answers.length, expected, `${path}: one answer each`);
  }
});

t.test('pipelined requests: answered in order, each handed over once the answer before is complete', async (t) => {
  const log: string[] = [];
  const pending: (() => void)[] = [];
  let previous: HttpResponse | undefined;
  const tunnel = await startTunnel(t, {
    api: (req, res) => {
      log.push(`${req.url} handed, the one before finished: ${previous?.writableFinished ?? 'none'}`);
      previous = res;
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '7' });
      res.write(`${req.url} `);
      pending.push(() => res.end('done'));
    },
  });
  const conn = await rawConnect(t, tunnel.port);
  const paths = ['/1', '/2', '/3', '/4'];
  conn.socket.write(paths.map((p) => `GET ${p} HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`).join(''));
  for (const path of paths) {
    await conn.waitFor(`${path} `);
    t.equal(pending.length, 1, `${path}: only its handler is under way`);
    pending.shift()!();
  }
  while (parseResponses(conn.received()).filter((r) => r.complete).length < paths.length) await once(conn.socket, 'data');
  t.same(
    parseResponses(conn.received()).map((r) => r.text),
    paths.map((p) => `${p} done`),
  );
  t.same(log, [
    '/1 handed, the one before finished: none',
    '/2 handed, the one before finished: true',
    '/3 handed, the one before finished: true',
    '/4 handed, the one before finished: true',
  ]);
});

t.test('a slow reader: write() says false, drain comes once the user reads, every byte arrives', async (t) => {
  const chunk = Buffer.alloc(64 * 1024, 'x');
  let fullAt = -1;
  let drained = false;
  const tunnel = await startTunnel(t, {
    api: (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(64 * chunk.length) });
      let sent = 0;
      const pump = (): void => {
        while (sent < 64) {
          sent++;
          if (!res.write(chunk)) {
            if (fullAt < 0) fullAt = sent;
            res.once('drain', () => {
              drained = true;
              pump();
            });
            return;
          }
        }
        res.end();
      };
      pump();
    },
  });
  const conn = await rawConnect(t, tunnel.port);
  conn.socket.pause();
  conn.socket.write(`GET /big HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`);
  const deadline = Date.now() + 10_000;
  while (fullAt < 0 && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
  t.ok(fullAt > 0 && fullAt < 64, `write() said false after ${fullAt} chunks of 64 KiB, the user reading nothing`);
  conn.socket.resume();
  while (parseResponses(conn.received())[0]?.complete !== true) await once(conn.socket, 'data');
  const [answer] = parseResponses(conn.received());
  t.equal(answer!.body.length, 64 * chunk.length, 'all 4 MiB arrived');
  t.ok(drained, "'drain' came");
});

t.test('a body the API does not read yet stops the user; reading it lets the user go on', async (t) => {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let handed!: () => void;
  const wasHanded = new Promise<void>((resolve) => (handed = resolve));
  const tunnel = await startTunnel(t, {
    api: async (req, res) => {
      handed();
      await released;
      res.end(`read ${(await bodyOf(req)).length}`);
    },
  });
  const size = 32 * 1024 * 1024;
  const conn = await rawConnect(t, tunnel.port);
  conn.socket.write(`POST /up HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: ${size}\r\n\r\n`);
  await wasHanded;
  const part = Buffer.alloc(1024 * 1024, 'b');
  let written = 0;
  while (written < size && conn.socket.write(part)) written += part.length;
  written += part.length;
  t.ok(written < size, `the user's writes backed up after ${written / 1024 / 1024} MiB of 32`);
  release();
  while (written < size) {
    if (!conn.socket.write(part)) await once(conn.socket, 'drain');
    written += part.length;
  }
  await conn.waitFor(`read ${size}`);
  t.pass('the whole body was read');
});

t.test('a user gone mid-body: the body read fails, the response closes unanswered', async (t) => {
  let result!: (r: { err: string; finished: boolean }) => void;
  const outcome = new Promise<{ err: string; finished: boolean }>((resolve) => (result = resolve));
  const tunnel = await startTunnel(t, {
    api: (req, res) => {
      const closed = new Promise<void>((resolve) => res.once('close', resolve));
      bodyOf(req).then(
        () => res.end('whole?'),
        (err: Error) => closed.then(() => result({ err: err.message, finished: res.writableFinished })),
      );
    },
  });
  const conn = await rawConnect(t, tunnel.port);
  conn.socket.write(`POST /up HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 100\r\n\r\nonly part`);
  await new Promise((resolve) => setImmediate(resolve));
  conn.socket.resetAndDestroy();
  const got = await outcome;
  t.match(got.err, /aborted/);
  t.equal(got.finished, false);
});

t.test('failures: a throw before the head is a 500; after it, a reset; destroy() before any byte, an error page', async (t) => {
  const tunnel = await startTunnel(t, {
    api: (req: HttpRequest, res: HttpResponse) => {
      if (req.url === '/throw') throw new Error('boom');
      if (req.url === '/late') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('some');
        return Promise.reject(new Error('late boom'));
      }
      res.destroy();
      return undefined;
    },
  });
  const exchange = async (path: string) => {
    const conn = await rawConnect(t, tunnel.port);
    conn.socket.write(`GET ${path} HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`);
    return conn.closed;
  };
  const thrown = await exchange('/throw');
  const [page] = parseResponses(thrown.bytes);
  t.same([page!.status, page!.header('connection'), page!.complete], [500, 'close', true]);
  t.match(page!.text, /Internal Server Error/);
  const late = await exchange('/late');
  t.ok(late.reset, 'a reset after the head');
  t.notOk(parseResponses(late.bytes)[0]?.complete, 'no complete answer');
  const cut = await exchange('/cut');
  const [cutPage] = parseResponses(cut.bytes);
  t.ok(cutPage!.status >= 500, `an error page (${cutPage!.status})`);
  t.notOk(cut.reset);
});
