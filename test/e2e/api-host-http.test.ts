/**
 * Issue 18, against the real `bin/proxima-server`: the Keep-Alive its API host advertises is the
 * idle timeout it applies (a raw socket sees `timeout=1`, then the close after at least that), and
 * with `api.cors.origins` a browser's preflight is answered without a key.
 */

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import t from 'tap';
import { logLine, startBin } from '../fixtures/processes/bin-process.js';
import { tempDir } from '../fixtures/stacks/control-plane.js';
import { parseResponses } from '../fixtures/stacks/tunnel.js';

const PAGE = 'https://chat.example.com';

t.test('proxima-server: Keep-Alive timeout= as applied, and CORS preflights', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'server.yaml');
  fs.writeFileSync(
    file,
    [
      'dataDir: ./data',
      'control: { listen: "127.0.0.1:0" }',
      'http: { listen: "127.0.0.1:0", idleTimeoutMs: 1500, drainTimeoutMs: 2000 }',
      `api: { cors: { origins: ["${PAGE}"] } }`,
      '',
    ].join('\n'),
  );
  const server = startBin(t, 'proxima-server', ['-c', file], dir);
  const { http } = await logLine(server, 'listening');
  const port = http.port as number;

  const socket = net.connect({ port, host: '127.0.0.1' });
  t.teardown(() => socket.destroy());
  await new Promise((resolve) => socket.once('connect', resolve));
  const parts: Buffer[] = [];
  let answeredMs = 0;
  socket.on('data', (chunk: Buffer) => {
    parts.push(chunk);
    answeredMs = performance.now();
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  // A preflight, then a GET without a key (401): two keep-alive answers on one connection.
  socket.write(
    `OPTIONS /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: ${PAGE}\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: authorization, content-type\r\n\r\n` +
      `GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: ${PAGE}\r\n\r\n`,
  );
  await closed;
  const idleMs = performance.now() - answeredMs;
  const [preflight, models] = parseResponses(Buffer.concat(parts), ['OPTIONS', 'GET']);
  t.equal(preflight!.status, 204);
  t.equal(preflight!.header('access-control-allow-origin'), PAGE);
  t.equal(preflight!.header('access-control-allow-headers'), 'authorization, content-type');
  t.equal(models!.status, 401, 'no key: 401, after a preflight that needed none');
  t.equal(models!.header('access-control-allow-origin'), PAGE);
  for (const answer of [preflight!, models!])
    t.equal(answer.header('keep-alive'), 'timeout=1', 'http.idleTimeoutMs 1500 ms, in whole seconds');
  t.ok(idleMs >= 1000, `closed ${Math.round(idleMs)} ms after the last answer, not before the second it promised`);
});
