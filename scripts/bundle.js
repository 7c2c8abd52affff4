// Part of `npm run build`, after tsc: bundles each program's compiled modules into one file, in
// dist/proxima-server/ and dist/proxima-client/, which bin/ runs. Node pays about 70 KiB per ES module
// it loads, and resolving a hundred of them makes its module loader hot enough to pull in TurboFan for
// the process's life (docs/performance-notes.md, "One file per program"); bundled, the idle node held
// 51.9 MiB instead of 58.1, the idle super node 69.7 instead of 73.7. Dynamic `import()`s stay lazy
// (`splitting`: each becomes a chunk beside the entry); packages stay in node_modules, but js-yaml (INSIDE
// below). `import.meta.url` in a chunk is the chunk's own file: package.json is two folders
// up as from dist/src/*.js, and the dashboard's assets are copied into dist/proxima-server/assets/.
// The metafile (dist/proxima-*.meta.json) says which sources each chunk holds: lazy-modules.test.ts
// maps the chunks a program loaded back to those.
//
// LAZY_GROUPS: the lazy parts of one feature, loaded as one chunk. esbuild puts the code the entry
// shares with lazy parts into a chunk per set of parts that share it: twelve lazy entry points made
// the super node load 17 files at start (entry, 15 shared chunks, gc tuning), whose 47 imports made
// Node's loader hot enough for TurboFan; with the PostgreSQL parts as one group it loads 6 and held
// 55.0 MiB idle instead of 60.4 (docs/performance-notes.md, "One lazy chunk for PostgreSQL"). Each
// dynamic import of a group's member resolves to one generated module that re-exports all members
// (`export *`), so the group is one lazy entry; members must not export one name twice (checked here).
import fs from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';

const root = path.resolve(import.meta.dirname, '..');
const dist = path.join(root, 'dist');
const src = path.join(dist, 'src');

/** Per program: group name -> the compiled sources (under dist/src) that load together. */
const LAZY_GROUPS = {
  server: {
    postgres: [
      'server/storage/postgres/postgres-pool.js',
      'server/storage/postgres/migrate.js',
      'server/storage/postgres/shared-store.js',
      'server/keys/postgres-key-store.js',
      'server/ledger/postgres-ledger.js',
      'server/presence/postgres-presence-store.js',
      'server/presence/postgres-presence-read.js',
      'server/registry/postgres-node-store.js',
      'server/cli/store-migrate.js',
    ],
  },
  client: {},
};

/** The names `files` export, each file's alone; throws if two files export one name (`export *` would drop it). */
async function checkDistinctExports(files) {
  const { metafile } = await build({
    entryPoints: files,
    outdir: 'unused',
    write: false,
    format: 'esm',
    metafile: true,
    logLevel: 'warning',
  });
  const owner = new Map();
  for (const [output, { entryPoint, exports }] of Object.entries(metafile.outputs)) {
    for (const name of exports) {
      if (owner.has(name)) throw new Error(`lazy group: ${owner.get(name)} and ${entryPoint ?? output} both export ${name}`);
      owner.set(name, entryPoint ?? output);
    }
  }
}

/**
 * Packages bundled inside: js-yaml, which both programs load at start to read their config. Kept in
 * node_modules it was one more module, its source held as a 208 KB two-byte string (the package has
 * non-ASCII characters); inside, the idle super node and node held 0.3-0.6 MiB less. The other packages
 * stay in node_modules: loaded lazily or not at all, inside they measured the same.
 */
const INSIDE = new Set(['js-yaml']);

/** esbuild plugin: packages (bare imports) stay external but those of INSIDE. */
const externalPackages = {
  name: 'external-packages',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      const parts = args.path.split('/');
      const name = args.path.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
      return INSIDE.has(name) ? undefined : { path: args.path, external: true };
    });
  },
};

/** esbuild plugin: a dynamic import of a group's member imports the group's module instead. */
function lazyGroups(groups) {
  const groupOf = new Map();
  for (const [group, members] of Object.entries(groups)) for (const m of members) groupOf.set(path.join(src, m), group);
  const reached = new Set();
  return {
    name: 'lazy-groups',
    setup(b) {
      b.onResolve({ filter: /^\./ }, (args) => {
        if (args.kind !== 'dynamic-import') return undefined;
        const group = groupOf.get(path.resolve(args.resolveDir, args.path));
        if (group === undefined) return undefined;
        reached.add(path.resolve(args.resolveDir, args.path));
        return { path: group, namespace: 'lazy-group' };
      });
      b.onLoad({ filter: /.*/, namespace: 'lazy-group' }, (args) => ({
        contents: groups[args.path].map((m) => `export * from ${JSON.stringify(path.join(src, m))};\n`).join(''),
        resolveDir: src,
        loader: 'js',
      }));
      b.onEnd(() => {
        const missed = [...groupOf.keys()].filter((file) => !reached.has(file));
        if (missed.length > 0) throw new Error(`lazy group members never imported with import(): ${missed.join(', ')}`);
      });
    },
  };
}

/**
 * Rewrites the few non-ASCII characters esbuild leaves in a bundle as `\u{...}`. V8 holds a script's
 * source as long as the script lives, in one byte a character only if all are Latin-1: two arrows in
 * comments made the super node's entry a 1 MiB string instead of 0.5. esbuild (charset ascii, its
 * default) escapes them in code already, so those left are in the comments it keeps, where the
 * escape is text; in a string or a name it would mean the same character.
 */
function asciiOnly(file) {
  const text = fs.readFileSync(file, 'utf8');
  if (!/[^\0-\x7f]/.test(text)) return;
  fs.writeFileSync(
    file,
    text.replace(/[^\0-\x7f]/gu, (c) => `\\u{${c.codePointAt(0).toString(16)}}`),
  );
}

for (const side of ['server', 'client']) {
  const name = `proxima-${side}`;
  const outdir = path.join(dist, name);
  const groups = LAZY_GROUPS[side];
  fs.rmSync(outdir, { recursive: true, force: true }); // no chunk of an earlier layout left beside these
  for (const members of Object.values(groups)) await checkDistinctExports(members.map((m) => path.join(src, m)));
  const { metafile } = await build({
    entryPoints: { [name]: path.join(src, side, 'cli', 'main.js') },
    outdir,
    absWorkingDir: root,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    metafile: true,
    logLevel: 'warning',
    plugins: [externalPackages, lazyGroups(groups)],
  });
  fs.writeFileSync(path.join(dist, `${name}.meta.json`), JSON.stringify(metafile));
  for (const file of Object.keys(metafile.outputs)) asciiOnly(path.join(root, file));
}
const assets = path.join(dist, 'src', 'server', 'admin', 'dashboard', 'assets');
fs.cpSync(assets, path.join(dist, 'proxima-server', 'assets'), { recursive: true });
