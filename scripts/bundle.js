// Part of `npm run build`, after tsc: bundles each program's compiled modules into one file, in
// dist/proxima-server/ and dist/proxima-client/, which bin/ runs. Node pays about 70 KiB per ES module
// it loads, and resolving a hundred of them makes its module loader hot enough to pull in TurboFan for
// the process's life (docs/performance-notes.md, "One file per program"); bundled, the idle node held
// 51.9 MiB instead of 58.1, the idle super node 69.7 instead of 73.7. Dynamic `import()`s stay lazy
// (`splitting`: each becomes a chunk beside the entry); packages stay in node_modules (bundling them
// measured the same). `import.meta.url` in a chunk is the chunk's own file: package.json is two folders
// up as from dist/src/*.js, and the dashboard's assets are copied into dist/proxima-server/assets/.
// The metafile (dist/proxima-*.meta.json) says which sources each chunk holds: lazy-modules.test.ts
// maps the chunks a program loaded back to those.
import fs from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';

const root = path.resolve(import.meta.dirname, '..');
const dist = path.join(root, 'dist');

for (const side of ['server', 'client']) {
  const name = `proxima-${side}`;
  const outdir = path.join(dist, name);
  const { metafile } = await build({
    entryPoints: { [name]: path.join(dist, 'src', side, 'cli', 'main.js') },
    outdir,
    absWorkingDir: root,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    metafile: true,
    logLevel: 'warning',
  });
  fs.writeFileSync(path.join(dist, `${name}.meta.json`), JSON.stringify(metafile));
}
const assets = path.join(dist, 'src', 'server', 'admin', 'dashboard', 'assets');
fs.cpSync(assets, path.join(dist, 'proxima-server', 'assets'), { recursive: true });
