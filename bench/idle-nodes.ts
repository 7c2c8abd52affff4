/**
 * What idle nodes cost a super node: N nodes log in (from a child process, so only the server's
 * memory is measured here), advertise, and sit idle. Prints the login rate and the server's RSS and
 * heap growth per node. Run: `npm run bench:idle` (N = 2000), or
 * `npx tsc -p . && node --expose-gc dist/bench/idle-nodes.js 5000`.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ControlConnection } from '../src/client/control-connection.js';
import { parseServerConfig } from '../src/server/config.js';
import { ProximaServer } from '../src/server/server.js';
import { ownedTempDir } from './children.js';

const CONCURRENCY = 100;

/** Child mode: log every node in and stay until stdin closes. */
async function clients(port: number, tokensFile: string): Promise<void> {
  const tokens = JSON.parse(fs.readFileSync(tokensFile, 'utf8')) as [string, string][];
  const connections: ControlConnection[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tokens.length) {
      const [name, token] = tokens[next++]!;
      connections.push(
        await ControlConnection.open({
          server: { host: '127.0.0.1', port },
          tls: false,
          name,
          token,
          timeoutMs: 30_000,
          services: [{ name: 'ollama', kind: 'ollama', hostHeader: 'localhost:11434', maxConcurrent: 1 }],
          onStream: (stream) => stream.destroy(),
        }),
      );
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  process.stdin.resume();
  process.stdin.once('end', () => void Promise.all(connections.map((c) => c.destroy())));
}

function memory(): { rssBytes: number; heapBytes: number } {
  (globalThis as { gc?: () => void }).gc?.();
  const { rss, heapUsed } = process.memoryUsage();
  return { rssBytes: rss, heapBytes: heapUsed };
}

async function main(count: number): Promise<void> {
  const dataDir = ownedTempDir('proxima-bench-');
  const config = parseServerConfig(
    { dataDir, control: { listen: '127.0.0.1:0', maxHandshakesPerAddress: CONCURRENCY }, http: { listen: '127.0.0.1:0' } },
    { baseDir: dataDir },
  );
  const server = await ProximaServer.start({
    config,
    openStream: () => {
      throw new Error('not in this benchmark');
    },
  });
  const tokens = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const name = `node-${i}`;
      return [name, (await server.registry.add(name)).token] as const;
    }),
  );
  const tokensFile = path.join(dataDir, 'tokens.json');
  fs.writeFileSync(tokensFile, JSON.stringify(tokens));
  const before = memory();
  let online = 0;
  const allOnline = new Promise<void>((resolve) => server.nodes.on('advertised', () => ++online === count && resolve()));
  const started = performance.now();
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), 'clients', String(server.controlAddress().port), tokensFile], {
    stdio: ['pipe', 'inherit', 'inherit'],
  });
  await allOnline;
  const loginMs = performance.now() - started;
  const after = memory();
  const perNode = (bytes: number): string => `${(bytes / count / 1024).toFixed(1)} KiB`;
  process.stdout.write(
    [
      `idle nodes: ${count}, logged in and advertised in ${loginMs.toFixed(0)} ms (${(count / (loginMs / 1000)).toFixed(0)} logins/s)`,
      `server RSS ${(before.rssBytes / 2 ** 20).toFixed(1)} -> ${(after.rssBytes / 2 ** 20).toFixed(1)} MiB: ${perNode(after.rssBytes - before.rssBytes)} per node`,
      `server heap ${(before.heapBytes / 2 ** 20).toFixed(1)} -> ${(after.heapBytes / 2 ** 20).toFixed(1)} MiB: ${perNode(after.heapBytes - before.heapBytes)} per node`,
      '',
    ].join('\n'),
  );
  child.stdin!.end();
  await new Promise((resolve) => child.once('exit', resolve));
  await server.destroy();
  fs.rmSync(dataDir, { recursive: true, force: true });
}

if (process.argv[2] === 'clients') await clients(Number(process.argv[3]), process.argv[4]!);
else await main(Number(process.argv[2] ?? 2000));
