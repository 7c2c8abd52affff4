/**
 * The node's side of the public listener benchmark, in its own process: a local web server that
 * answers every request with a short fixed body, and the real Forwarder behind a mux session that
 * the benchmark dials. Prints {"port"} (where to dial), then serves until stdin closes.
 */

import { once } from 'node:events';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { Forwarder } from '../../src/client/forwarder.js';
import { Session } from '../../src/mux/index.js';
import { applyRuntimeTuning, tuningMode } from '../../src/runtime/index.js';

// As the programs do: the runtime tricks per PROXIMA_RUNTIME_TUNING (auto by default).
await applyRuntimeTuning(tuningMode('auto'));

const BODY = Buffer.from('hello from the node\n');

const web = http.createServer((req, res) => {
  req.resume();
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': BODY.length });
  res.end(BODY);
});
web.keepAliveTimeout = 60_000;
web.listen(0, '127.0.0.1');
await once(web, 'listening');
const local = { host: '127.0.0.1', port: (web.address() as AddressInfo).port };
const forwarder = new Forwarder({
  services: [
    { name: 'web', local },
    { name: 'docs', local },
  ],
});

const control = net.createServer((socket) => {
  const session = new Session(socket, { role: 'client' });
  session.on('stream', (stream) => forwarder.handle(stream));
});
control.listen(0, '127.0.0.1');
await once(control, 'listening');
process.stdout.write(JSON.stringify({ port: (control.address() as AddressInfo).port }) + '\n');
process.stdin.resume().on('end', () => process.exit(0));
