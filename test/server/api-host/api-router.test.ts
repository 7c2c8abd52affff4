import type http from 'node:http';
import t from 'tap';
import { clientAddressOf } from '../../../src/server/api-host/api-router.js';

t.test('the client address: the socket peer, or with trustProxy the last X-Forwarded-For entry', async (t) => {
  const req = {
    headers: { 'x-forwarded-for': '198.51.100.1, 203.0.113.7' },
    socket: { remoteAddress: '127.0.0.1' },
  } as unknown as http.IncomingMessage;
  t.equal(clientAddressOf(req, false), '127.0.0.1');
  t.equal(clientAddressOf(req, true), '203.0.113.7', 'the entry the trusted proxy added');
  const bare = { headers: {}, socket: { remoteAddress: '::1' } } as unknown as http.IncomingMessage;
  t.equal(clientAddressOf(bare, true), '::1');
});
