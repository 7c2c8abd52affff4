import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import t from 'tap';
import { repoRoot } from '../fixtures/paths.js';

/** The files `npm pack` would put in the package, as npm lists them. */
async function packedFiles(): Promise<string[]> {
  const { stdout } = await promisify(execFile)('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: repoRoot });
  return (JSON.parse(stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path).sort();
}

t.test('the package ships what a user runs: bin, the bundles, config; no tests, benchmarks, compiled sources or maps', async (t) => {
  const files = await packedFiles();
  // Each program is one bundle and its lazy chunks (scripts/bundle.js); the dashboard's browser files
  // (its script and style, uPlot's build) sit beside the super node's.
  const allowed =
    /^(bin\/proxima-(server|client)\.js|dist\/proxima-(server|client)\/[\w-]+\.js|dist\/proxima-server\/assets\/[\w.]+\.(js|css)|config\/.+|package\.json|README\.md|LICENSE)$/;
  t.same(
    files.filter((f) => !allowed.test(f)),
    [],
    'nothing else',
  );
  for (const needed of [
    'bin/proxima-server.js',
    'bin/proxima-client.js',
    'dist/proxima-server/proxima-server.js',
    'dist/proxima-client/proxima-client.js',
    'config/server.yaml',
    'dist/proxima-server/assets/uPlot.iife.min.js',
    'dist/proxima-server/assets/uPlot.min.css',
    'dist/proxima-server/assets/dashboard.js',
    'dist/proxima-server/assets/dashboard.css',
  ]) {
    t.ok(files.includes(needed), needed);
  }
  t.notOk(
    files.some((f) => f.startsWith('dist/test/') || f.startsWith('dist/bench/') || f.startsWith('dist/src/')),
    'no compiled tests, benchmarks or sources (the bundles hold them)',
  );
});
