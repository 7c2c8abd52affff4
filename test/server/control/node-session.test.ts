/**
 * What a logged-in node can make the super node do with bad control messages, over a real session:
 * an advert with a field the node's own config would refuse is refused whole (the node is told
 * PRX_ERR_MESSAGE_INVALID and keeps its last good advert), the warnings one session causes are
 * bounded, and a session that keeps sending invalid messages is closed with a coded reason.
 */
import t from 'tap';
import { createLogger, type LogFields } from '../../../src/log.js';
import type { ServiceAdvert } from '../../../src/proto/control/messages.js';
import { connectNode, online, register, startServer } from '../../fixtures/stacks/control-plane.js';
import { within } from '../../fixtures/store-helpers.js';

/** A logger whose lines the test reads, and how many bytes it wrote. */
function capture(): {
  logger: ReturnType<typeof createLogger>;
  lines: LogFields[];
  bytes: () => number;
  next: (msg: string) => Promise<LogFields>;
} {
  const lines: LogFields[] = [];
  let bytes = 0;
  const waiters: { msg: string; resolve: (line: LogFields) => void }[] = [];
  const logger = createLogger({
    level: 'info',
    stream: {
      write: (line: string) => {
        bytes += Buffer.byteLength(line);
        const parsed = JSON.parse(line) as LogFields;
        lines.push(parsed);
        for (const w of waiters.splice(0))
          if (parsed.msg === w.msg) w.resolve(parsed);
          else waiters.push(w);
        return true;
      },
    },
  });
  const next = (msg: string): Promise<LogFields> =>
    within(new Promise<LogFields>((resolve) => waiters.push({ msg, resolve })), 5_000, `log line "${msg}"`);
  return { logger, lines, bytes: () => bytes, next };
}

const GOOD: ServiceAdvert[] = [
  { name: 'web', kind: 'http', expose: 'public', hostHeader: 'localhost:3000' },
  {
    name: 'llm',
    kind: 'ollama',
    expose: 'network',
    maxConcurrent: 2,
    models: [{ name: 'llama3.2:latest', digest: 'a'.repeat(64), size: 2019393189 }],
  },
];

const BAD_ADVERTS: [string, unknown][] = [
  ['a hostHeader with CR LF', [{ name: 'web', kind: 'http', hostHeader: 'localhost\r\nX-Evil: 1' }]],
  ['a hostHeader with a path', [{ name: 'web', kind: 'http', hostHeader: 'localhost/x' }]],
  ['a hostHeader port past 65535', [{ name: 'web', kind: 'http', hostHeader: 'localhost:70000' }]],
  ['a service name that is no DNS label', [{ name: 'Web_1', kind: 'http' }]],
  [
    'a service named twice',
    [
      { name: 'web', kind: 'http' },
      { name: 'web', kind: 'http' },
    ],
  ],
  ['a model name with LF', [{ name: 'llm', kind: 'ollama', models: [{ name: 'llama\n3', digest: 'a'.repeat(64) }] }]],
  ['a digest with a space', [{ name: 'llm', kind: 'ollama', models: [{ name: 'm', digest: 'sha256 x' }] }]],
  ['a negative size', [{ name: 'llm', kind: 'ollama', models: [{ name: 'm', digest: 'd', size: -1 }] }]],
  ['a detail of 10 KB', [{ name: 'llm', kind: 'ollama', models: [{ name: 'm', digest: 'd', details: { family: 'x'.repeat(10_000) } }] }]],
];

t.test('an advert with a bad field is refused with PRX_ERR_MESSAGE_INVALID; the last good one stays', async (t) => {
  const server = await startServer(t);
  const token = await register(server, 'alpha');
  const node = capture();
  const connection = await connectNode(t, server, 'alpha', { token, services: GOOD, logger: node.logger });
  const session = await online(server, 'alpha');
  for (const [what, services] of BAD_ADVERTS) {
    const told = node.next('the super node reported an error');
    connection.advertise(services as ServiceAdvert[]);
    const line = await told;
    t.equal(line.code, 'PRX_ERR_MESSAGE_INVALID', what);
    t.same(session.services, GOOD, `${what}: the last good advert stays`);
  }
  t.ok(server.nodes.live('alpha'), 'a few bad adverts do not close the session');
});

t.test('50,000 bad control messages: a few lines of log, then the session is closed with a code', async (t) => {
  const log = capture();
  const server = await startServer(t, { logger: log.logger });
  const token = await register(server, 'alpha');
  const connection = await connectNode(t, server, 'alpha', { token, services: GOOD });
  const node = await online(server, 'alpha');
  for (let i = 0; i < 50_000; i++) connection.advertise([{ name: 'web', kind: 'ftp' as 'http' }]);
  const err = (await within(connection.closed, 10_000, 'session closed')) as { code?: string } | undefined;
  t.equal(err?.code, 'PRX_ERR_TOO_MANY_INVALID_MESSAGES', 'the node is told why');
  await within(
    (async () => {
      while (server.nodes.live('alpha') !== undefined) await new Promise((resolve) => setImmediate(resolve));
    })(),
    5_000,
    'alpha offline',
  );
  const bad = log.lines.filter((l) => l.msg === 'bad control message');
  t.ok(bad.length > 0 && bad.length <= 10, `warnings of bad messages are bounded (${bad.length})`);
  t.equal(log.lines.filter((l) => l.msg === 'node session closed: too many invalid control messages').length, 1);
  await node.closed;
  t.equal(node.closeReason, 'error', 'closed for an error');
  t.match(
    log.lines.filter((l) => l.msg === 'node offline'),
    [{ level: 'warn', node: 'alpha', reason: 'error', err: { code: 'PRX_ERR_TOO_MANY_INVALID_MESSAGES' } }],
  );
  t.ok(log.bytes() < 32 * 1024, `the server wrote ${log.bytes()} bytes of log`);
  t.comment(`log: ${log.lines.length} lines, ${log.bytes()} bytes for 50,000 bad messages`);
});
