/**
 * The origin the tunnel benchmark measures against: nginx serving static files (fast enough that
 * the numbers measure Proxima, not the origin), and a small Node SSE server on plain sockets for time
 * to first event.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ownedTempDir, spawnOwned } from '../children.js';

/** A port that was free a moment ago (nginx cannot listen on port 0). */
export async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

export interface Origin {
  port: number;
  ssePort: number;
  dir: string;
  stop(): Promise<void>;
}

async function waitAccepting(port: number): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`nothing listens on ${port}`);
}

/**
 * The SSE origin: per connection, the head and first event in one write once the request head is in,
 * `[DONE]` 50 ms later, then the end (the response is delimited by the close). On plain sockets, not
 * node:http: with its per-request objects the origin's collections took 2.8 ms on average (up to
 * 4.9 in the slow rounds; 1.0 on average now), and they made the slowest rounds of both columns
 * (docs/performance-notes.md "The SSE cell: 300 rounds against a plain-socket origin").
 */
const SSE_ORIGIN = `
const net = require('node:net');
const HEAD = 'HTTP/1.1 200 OK\\r\\ncontent-type: text/event-stream\\r\\ncache-control: no-cache\\r\\nconnection: close\\r\\n\\r\\n';
net.createServer({ noDelay: true }, (socket) => {
  let head = '';
  let timer;
  socket.on('error', () => {});
  socket.once('close', () => clearTimeout(timer));
  socket.on('data', function onData(chunk) {
    head += chunk.toString('latin1');
    if (!head.includes('\\r\\n\\r\\n')) return;
    socket.off('data', onData);
    socket.write(HEAD + 'data: {"seq":0}\\n\\n');
    timer = setTimeout(() => socket.end('data: [DONE]\\n\\n'), 50);
  });
}).listen(Number(process.argv[1]), '127.0.0.1', () => process.stdout.write('ready\\n'));
`;

export async function startOrigin(): Promise<Origin> {
  const dir = ownedTempDir('prx-bench-origin-');
  fs.chmodSync(dir, 0o755); // nginx's workers run as another user when started by root
  fs.mkdirSync(path.join(dir, 'www'), { mode: 0o755 });
  fs.writeFileSync(path.join(dir, 'www', '1k'), Buffer.alloc(1024, 0x61));
  fs.writeFileSync(path.join(dir, 'www', '10m'), Buffer.alloc(10 * 1024 * 1024, 0x62));
  const port = await freePort();
  fs.writeFileSync(
    path.join(dir, 'nginx.conf'),
    [
      'worker_processes 1;',
      'daemon off;',
      `pid ${dir}/nginx.pid;`,
      'error_log stderr error;',
      'events { worker_connections 4096; }',
      'http {',
      '  access_log off;',
      '  sendfile on;',
      '  tcp_nopush on;',
      '  keepalive_requests 1000000;',
      `  client_body_temp_path ${dir}/tmp; proxy_temp_path ${dir}/tmp; fastcgi_temp_path ${dir}/tmp; uwsgi_temp_path ${dir}/tmp; scgi_temp_path ${dir}/tmp;`,
      `  server { listen 127.0.0.1:${port}; root ${dir}/www; location / { default_type application/octet-stream; } }`,
      '}',
      '',
    ].join('\n'),
  );
  fs.mkdirSync(path.join(dir, 'tmp'));
  const nginx: ChildProcess = spawnOwned('nginx', ['-p', dir, '-c', path.join(dir, 'nginx.conf')], { stdio: 'ignore' });
  const ssePort = await freePort();
  const sse = spawnOwned(process.execPath, ['-e', SSE_ORIGIN, String(ssePort)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await once(sse.stdout!, 'data');
  await waitAccepting(port);
  return {
    port,
    ssePort,
    dir,
    stop: async () => {
      nginx.kill('SIGTERM');
      sse.kill('SIGTERM');
      await Promise.all([once(nginx, 'exit'), once(sse, 'exit')]);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
