import { setTimeout as delay } from 'node:timers/promises';
import t from 'tap';
import { readPresence } from '../../../src/server/presence/json-presence-store.js';
import type { NodePresence } from '../../../src/server/presence/presence-store.js';
import type { ProximaServer } from '../../../src/server/server.js';
import { PACKAGE_VERSION } from '../../../src/version.js';
import { connectNode, online, register, startServer, tempDir, testServerConfig } from '../../fixtures/stacks/control-plane.js';

const SERVICES = [{ name: 'llm', kind: 'ollama' as const, maxConcurrent: 2, models: [{ name: 'llama3.2:latest', digest: 'sha256:abc' }] }];

/** Polls `check` with a deadline; each turn looks again (not a sleep to synchronise). */
async function poll<T>(what: string, check: () => T | undefined | Promise<T | undefined>, deadlineMs = 5_000): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await delay(20);
  }
}

const rowOf = (server: ProximaServer, name: string): NodePresence | undefined =>
  server.presence.current().nodes.find((n) => n.name === name);

t.test('a row on advert, last-seen moved by heartbeats, a replaced session keeps the new row, a leave removes it', async (t) => {
  const dataDir = tempDir(t);
  const config = testServerConfig(dataDir, {
    control: { heartbeatIntervalMs: 100 },
    presence: { leaseIntervalMs: 200, writeDelayMs: 20 },
  });
  const server = await startServer(t, { dataDir, config, registry: { pollIntervalMs: 100, touchFlushMs: 100 } });
  const token = await register(server, 'alpha');
  await connectNode(t, server, 'alpha', { token, services: SERVICES });
  await online(server, 'alpha');
  const first = rowOf(server, 'alpha')!;
  t.match(first, {
    instance: server.presence.instance,
    address: /127\.0\.0\.1$/,
    clientVersion: PACKAGE_VERSION,
    services: [{ name: 'llm', kind: 'ollama', models: ['llama3.2:latest'], maxConcurrent: 2 }],
  });
  t.notOk(JSON.stringify(first).includes('sha256:abc'), 'names only, no digests');
  await poll('a heartbeat later', () => {
    const row = rowOf(server, 'alpha')!;
    return Date.parse(row.lastSeenAt) >= Date.parse(first.lastSeenAt) + 250 ? row : undefined;
  });
  await poll('the file has alpha', async () => ((await readPresence(dataDir))?.nodes.length === 1 ? true : undefined));

  // A second login replaces the first; the first's close must not take the new session's row.
  const second = await connectNode(t, server, 'alpha', { token, services: SERVICES });
  const replaced = await poll('the new session online', () => {
    const row = rowOf(server, 'alpha');
    return row !== undefined && row.connectedAt !== first.connectedAt ? row : undefined;
  });
  await poll('one session left', () => (server.nodes.size === 1 ? true : undefined));
  t.equal(rowOf(server, 'alpha')?.connectedAt, replaced.connectedAt, 'the new row stays');

  await second.close();
  await poll('alpha gone', () => (rowOf(server, 'alpha') === undefined ? true : undefined));
  await poll('the file without alpha', async () => ((await readPresence(dataDir))?.nodes.length === 0 ? true : undefined));
  await poll('the registry has its last-seen', async () => {
    const record = (await server.registry.list()).find((r) => r.name === 'alpha');
    return record?.lastSeenAt != null && Date.parse(record.lastSeenAt) >= Date.parse(replaced.lastSeenAt) ? true : undefined;
  });
});
