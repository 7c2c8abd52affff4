import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { at, DAY_MS, request } from '../../fixtures/ledger-records.js';
import { runNode } from '../../fixtures/processes/run-bin.js';
import { tempDir } from '../../fixtures/stacks/control-plane.js';

const BIN = 'bin/proxima-server.js';

/** A server.yaml and a ledger: a day (epoch 20089) of alpha and beta serving two keys and two models. */
function setup(t: Test): string {
  const dir = tempDir(t);
  const file = path.join(dir, 'server.yaml');
  fs.writeFileSync(file, 'dataDir: ./data\ncontrol: { listen: "127.0.0.1:0" }\nhttp: { listen: "127.0.0.1:0" }\n');
  fs.mkdirSync(path.join(dir, 'data'));
  const records = [
    request({ node: 'alpha', keyId: 'key-a' }),
    request({ node: 'alpha', keyId: 'key-a', time: at(13 * 3_600_000) }),
    request({ node: 'beta', keyId: 'key-b', model: 'qwen2.5', outcome: 'timeout' }),
    request({ node: 'beta', keyId: 'key-b', time: at(DAY_MS + 60_000) }),
  ];
  fs.writeFileSync(path.join(dir, 'data', 'ledger.ndjson'), records.map((r) => JSON.stringify(r) + '\n').join(''));
  return file;
}

const usage = (file: string, ...args: string[]) => runNode(BIN, ['usage', '-c', file, ...args]);

t.test("usage --by node --json: the credit is the rewards report's", async (t) => {
  const file = setup(t);
  const r = await usage(file, '--by', 'node', '--epoch', '20089', '--json');
  t.equal(r.code, 0, r.stderr);
  const rows = JSON.parse(r.stdout);
  t.same(rows, [
    {
      group: 'alpha',
      requests: 2,
      ok: 2,
      failed: 0,
      aborted: 0,
      promptTokens: 60,
      completionTokens: 200,
      models: ['llama3.2'],
      credit: 0.6784,
      forfeitedCredit: 0,
    },
    {
      group: 'beta',
      requests: 1,
      ok: 0,
      failed: 1,
      aborted: 0,
      promptTokens: 30,
      completionTokens: 100,
      models: ['qwen2.5'],
      credit: 0,
      forfeitedCredit: 0,
    },
  ]);
  const rewards = JSON.parse((await runNode(BIN, ['rewards', '-c', file, '--epoch', '20089', '--json'])).stdout);
  t.equal(rows[0].credit, rewards[0].validatedCredit + rewards[0].pendingCredit, 'the same credit as proxima-server rewards');
  t.same(JSON.parse((await usage(file, '--epoch', '20089', '--json')).stdout), rows, 'by node is the default');
});

t.test('usage --by key and --by model print tables under the epoch heading', async (t) => {
  const file = setup(t);
  const byKey = await usage(file, '--by', 'key', '--epoch', '20089');
  t.equal(byKey.code, 0, byKey.stderr);
  const lines = byKey.stdout.split('\n');
  t.equal(lines[0], 'epoch 20089: 2025-01-01T00:00:00.000Z to 2025-01-02T00:00:00.000Z (closed), by key');
  t.match(lines[1], /^KEY ID +REQUESTS +OK +FAILED +ABORTED +PROMPT TOKENS +COMPLETION TOKENS +MODELS +NODES$/);
  t.match(lines[2], /^key-a +2 +2 +0 +0 +60 +200 +llama3\.2 +alpha$/);
  t.match(lines[3], /^key-b +1 +0 +1 +0 +30 +100 +qwen2\.5 +beta$/);
  const byModel = await usage(file, '--by', 'model', '--epoch', '20090');
  t.match(byModel.stdout.split('\n')[2], /^llama3\.2 +1 +1 +0 +0 +30 +100 +beta$/);
  const now = await usage(file, '--by', 'model');
  t.match(now.stdout, /^epoch \d+: .* \(open\), by model\nno requests\n$/, 'by default the current epoch');
});

t.test('a bad --by or --epoch is a usage error (exit 2) that says what is wrong', async (t) => {
  const file = setup(t);
  const by = await usage(file, '--by', 'user');
  t.equal(by.code, 2);
  t.match(by.stderr, 'by must be one of node, key, model, not "user"');
  const epoch = await usage(file, '--epoch', 'last');
  t.equal(epoch.code, 2);
  t.match(epoch.stderr, 'epoch must be a whole number, not "last"');
});
