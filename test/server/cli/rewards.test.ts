import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { at, DAY_MS, probe, request, T0 } from '../../fixtures/ledger-records.js';
import { logLine, startBin } from '../../fixtures/processes/bin-process.js';
import { runNode } from '../../fixtures/processes/run-bin.js';
import { tempDir } from '../../fixtures/stacks/control-plane.js';
import { literal } from '../../fixtures/store-helpers.js';

const BIN = 'bin/proxima-server.js';

/** A server.yaml (loopback ports 0, `extra` appended) and a ledger with a day of traffic of alpha and beta. */
function setup(t: Test, extra = '', tail = ''): { dir: string; file: string; ledger: string } {
  const dir = tempDir(t);
  const file = path.join(dir, 'server.yaml');
  fs.writeFileSync(
    file,
    `dataDir: ./data\ncontrol: { listen: "127.0.0.1:0" }\nadmin: { listen: "127.0.0.1:0" }\nhttp: { listen: "127.0.0.1:0" }\n${extra}`,
  );
  fs.mkdirSync(path.join(dir, 'data'));
  const records = [
    request({ node: 'alpha' }),
    request({ node: 'alpha', time: at(13 * 3_600_000) }),
    request({ node: 'beta', time: at(30 * 60_000) }),
    probe({ node: 'beta' }),
    request({ node: 'beta', time: at(DAY_MS + 60_000) }),
  ];
  const ledger = path.join(dir, 'data', 'ledger.ndjson');
  fs.writeFileSync(ledger, records.map((r) => JSON.stringify(r) + '\n').join('') + tail);
  return { dir, file, ledger };
}

const rewards = (file: string, ...args: string[]) => runNode(BIN, ['rewards', '-c', file, ...args]);

t.test('rewards --json: one object per node for an epoch, or for a span', async (t) => {
  const { file } = setup(t);
  const r = await rewards(file, '--epoch', '20089', '--json');
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stderr, '');
  const rows = JSON.parse(r.stdout) as Record<string, unknown>[];
  t.match(rows, [
    { node: 'alpha', requests: 2, promptTokens: 60, completionTokens: 200, availability: null, pendingCredit: 0, validatedCredit: 0.6784 },
    // A minute of uptime on top of one request: 0.3392 + 0.1 / 60 × 3.2.
    { node: 'beta', requests: 1, promptTokens: 30, completionTokens: 100, availability: 1, pendingCredit: 0, validatedCredit: 0.344533 },
  ]);
  t.equal(rows.length, 2, 'the next day is not in epoch 20089');
  const span = await rewards(file, '--from', '2025-01-01T00:00:00Z', '--to', String(T0 + 12 * 3_600_000), '--json');
  t.match(
    JSON.parse(span.stdout),
    [
      { node: 'alpha', requests: 1 },
      { node: 'beta', requests: 1 },
    ],
    'a span of half a day',
  );
});

t.test('rewards prints a table under a heading naming the window', async (t) => {
  const { file } = setup(t);
  const r = await rewards(file, '--epoch', '20089');
  t.equal(r.code, 0);
  const lines = r.stdout.split('\n');
  t.equal(lines[0], 'epoch 20089: 2025-01-01T00:00:00.000Z to 2025-01-02T00:00:00.000Z (closed)');
  t.match(
    lines[1],
    /^NODE +REQUESTS +PROMPT TOKENS +COMPLETION TOKENS +AVAILABILITY +CHECKS PASSED +CHECKS FAILED +PENDING +VALIDATED +FORFEITED +SHARE$/,
  );
  t.match(lines[2], /^alpha +2 +60 +200 +- +2 +0 +0\.000 +0\.678 +0\.000 +66\.3%$/);
  t.match(lines[3], /^beta +1 +30 +100 +100\.0% +1 +0 +0\.000 +0\.345 +0\.000 +33\.7%$/);
  const now = await rewards(file);
  t.match(now.stdout, /^epoch \d+: .* \(open\)\nno activity\n$/, 'by default the current epoch');
});

t.test('the rules come from the config: 12-hour epochs split the day', async (t) => {
  const { file } = setup(t, 'rewards: { epochLengthMs: 12h }\n');
  const r = await rewards(file, '--epoch', String(20089 * 2), '--json');
  t.match(JSON.parse(r.stdout), [
    { node: 'alpha', requests: 1 },
    { node: 'beta', requests: 1 },
  ]);
});

t.test('a torn line is a warning naming the file and byte offset, never a failure', async (t) => {
  const { file, ledger } = setup(t, '', '{"type":"request","id":"to');
  const offset = fs.statSync(ledger).size - '{"type":"request","id":"to'.length;
  const r = await rewards(file, '--epoch', '20089', '--json');
  t.equal(r.code, 0);
  t.equal(JSON.parse(r.stdout).length, 2);
  t.match(
    r.stderr,
    new RegExp(`^proxima-server: warning: ${literal(ledger).source} byte ${offset}: skipped a line \\(incomplete last line`),
  );
});

t.test('bad usage exits 2 with nothing on stdout', async (t) => {
  const { file } = setup(t);
  for (const args of [
    ['--epoch', 'x'],
    ['--epoch', '1', '--from', '0'],
    ['--to', '5'],
    ['--from', 'yesterday'],
    ['--from', '10', '--to', '5'],
    ['--week'],
  ]) {
    const r = await rewards(file, ...args);
    t.equal(r.code, 2, args.join(' '));
    t.equal(r.stdout, '');
    t.match(r.stderr, /^proxima-server: /);
  }
});

t.test('rewards reads the ledger while the server runs', async (t) => {
  const { dir, file } = setup(t);
  const server = startBin(t, 'proxima-server', ['-c', file], dir);
  await logLine(server, 'listening');
  const r = await rewards(file, '--epoch', '20089', '--json');
  t.equal(r.code, 0, r.stderr);
  t.match(JSON.parse(r.stdout), [
    { node: 'alpha', requests: 2 },
    { node: 'beta', requests: 1 },
  ]);
  server.child.kill('SIGTERM');
  t.same(await server.exited, { code: 0, signal: null });
});
