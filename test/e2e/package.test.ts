import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import t from 'tap';
import { repoRoot } from '../fixtures/paths.js';

/** The files `npm pack` would put in the package, as npm lists them. */
async function packedFiles(): Promise<string[]> {
  const { stdout } = await promisify(execFile)('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: repoRoot });
  return (JSON.parse(stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path).sort();
}

t.test('the package ships what a user runs: bin, the compiled src, config; no tests, benchmarks or maps', async (t) => {
  const files = await packedFiles();
  // The dashboard's browser files (its script and style, uPlot's build) sit beside its compiled module.
  const allowed =
    /^(bin\/proxima-(server|client)\.js|dist\/src\/.+\.js|dist\/src\/server\/admin\/dashboard\/assets\/[\w.]+\.css|config\/.+|package\.json|README\.md|LICENSE)$/;
  t.same(
    files.filter((f) => !allowed.test(f)),
    [],
    'nothing else',
  );
  for (const needed of [
    'bin/proxima-server.js',
    'bin/proxima-client.js',
    'dist/src/server/cli/main.js',
    'dist/src/client/cli/main.js',
    'config/server.yaml',
    'dist/src/server/admin/dashboard/assets/uPlot.iife.min.js',
    'dist/src/server/admin/dashboard/assets/uPlot.min.css',
    'dist/src/server/admin/dashboard/assets/dashboard.js',
    'dist/src/server/admin/dashboard/assets/dashboard.css',
  ]) {
    t.ok(files.includes(needed), needed);
  }
  t.notOk(
    files.some((f) => f.startsWith('dist/test/') || f.startsWith('dist/bench/')),
    'no compiled tests or benchmarks',
  );
});
