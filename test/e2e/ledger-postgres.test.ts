/**
 * The real `bin/proxima-server` with its ledger on a real PostgreSQL, a real `bin/proxima-client` in
 * front of a fake Ollama: requests answered while PostgreSQL is stopped are acknowledged from the
 * buffer on disk (/readyz stays 200 and says so); after a kill -9 of the server while buffering and a
 * restart with PostgreSQL back, every answered request's record is in proxima_ledger exactly once.
 */
import pg from 'pg';
import t from 'tap';
import { startFakeOllama } from '../fixtures/fakes/ollama/fake-ollama.js';
import { POSTGRES_SKIP, startPostgres, type TestPostgres } from '../fixtures/postgres.js';
import { logLine, startBin } from '../fixtures/processes/bin-process.js';
import { startProcessNetwork } from '../fixtures/stacks/process-network.js';

const skip = POSTGRES_SKIP;
const cluster: TestPostgres | undefined = skip === false ? await startPostgres(t) : undefined;

t.test('kill -9 while buffering, restart with PostgreSQL back: every answered request is stored once', { skip }, async (t) => {
  const url = await cluster!.createDatabase('e2e_ledger');
  const fake = await startFakeOllama();
  t.teardown(() => fake.destroy());
  const net = await startProcessNetwork(t, { alpha: fake }, [
    'rewards: { canaryShare: 0, newNodeCanaryShare: 0 }',
    `store: { postgres: { url: "${url}" } }`,
  ]);
  await logLine(net.server, 'ledger: writing to PostgreSQL');
  const answered: string[] = [];
  const chat = async (): Promise<void> => {
    const res = await net.post('/v1/chat/completions', { model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }] });
    t.equal(res.status, 200, 'answered');
    answered.push(String(res.headers['x-request-id']));
  };
  for (let i = 0; i < 5; i++) await chat();
  const requestIds = async (): Promise<string[]> => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      return (await c.query<{ id: string }>(`SELECT id FROM proxima_ledger WHERE type = 'request' ORDER BY seq`)).rows.map((r) => r.id);
    } finally {
      await c.end();
    }
  };
  t.same(await requestIds(), answered, 'the first five went straight to PostgreSQL');

  await cluster!.halt();
  t.teardown(() => cluster!.resume().catch(() => undefined));
  for (let i = 0; i < 5; i++) await chat();
  const ready = await fetch(`${net.adminBase}/readyz`);
  const body = (await ready.json()) as { status: string; checks: Record<string, string> };
  t.equal(ready.status, 200, 'still ready while buffering');
  t.match(body.checks.ledger, /^buffering \d+ records on disk, PostgreSQL unreachable$/);

  net.server.child.kill('SIGKILL');
  t.same(await net.server.exited, { code: null, signal: 'SIGKILL' });
  await cluster!.resume();
  const again = startBin(t, 'proxima-server', ['-c', net.serverFile], net.dir);
  await logLine(again, 'ledger: replaying the buffer a previous run left on disk');
  await logLine(again, 'ledger: PostgreSQL is back; the buffer on disk is replayed and removed');
  const stored = await requestIds();
  t.same(stored, answered, 'all ten answered requests, once each, in order');
  t.equal(new Set(stored).size, 10);
  await logLine(again, 'listening');
  again.child.kill('SIGTERM');
  t.same(await again.exited, { code: 0, signal: null });
  t.notOk(
    [...net.server.lines, ...again.lines].some((l) => l.includes(cluster!.password)),
    'the password is in no log line',
  );
});
