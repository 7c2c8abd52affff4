import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { repoPath } from './fixtures/paths.js';

/** Every .ts file below `dir`, as paths relative to the repository root. */
function sources(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const entry of fs.readdirSync(repoPath(rel), { withFileTypes: true })) {
      const child = path.posix.join(rel, entry.name);
      if (entry.isDirectory()) walk(child);
      else if (/\.(ts|js)$/.test(entry.name)) out.push(child);
    }
  };
  if (fs.existsSync(repoPath(dir))) walk(dir);
  return out;
}

/** The module specifiers a file imports, statically, dynamically or by require. */
function importsOf(file: string): string[] {
  const text = fs.readFileSync(repoPath(file), 'utf8');
  const specs: string[] = [];
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire\s*\(\s*)['"]([^'"]+)['"]/g;
  for (const m of text.matchAll(re)) specs.push(m[1]!);
  return specs;
}

/** Where an import lands: a folder of src ('proto', 'mux', ...), 'leaf' for src/*.ts, or 'external'. */
function layerOf(from: string, spec: string): string {
  if (!spec.startsWith('.')) return spec.startsWith('node:') ? spec : 'external:' + spec;
  const target = path.posix.normalize(path.posix.join(path.posix.dirname(from), spec));
  const parts = target.split('/');
  if (parts[0] !== 'src') return 'outside:' + target;
  return parts.length === 2 ? 'leaf:' + parts[1] : parts[1]!;
}

const SYSTEM_IO = ['node:net', 'node:fs', 'node:fs/promises', 'node:tls', 'node:dgram', 'node:child_process', 'node:http', 'node:https'];

t.test('src/proto is pure wire code: only src/errors.ts, no sockets or files', async (t) => {
  for (const file of sources('src/proto')) {
    for (const spec of importsOf(file)) {
      const layer = layerOf(file, spec);
      t.notOk(SYSTEM_IO.includes(layer) || SYSTEM_IO.includes('node:' + spec), `${file} must not import ${spec}`);
      if (spec.startsWith('.')) t.ok(layer === 'proto' || layer === 'leaf:errors.js', `${file} imports ${spec}`);
    }
  }
});

t.test('src/mux imports only itself, errors and logging', async (t) => {
  for (const file of sources('src/mux')) {
    for (const spec of importsOf(file).filter((s) => s.startsWith('.'))) {
      const layer = layerOf(file, spec);
      t.ok(['mux', 'leaf:errors.js', 'leaf:log.js'].includes(layer), `${file} imports ${spec}`);
    }
  }
});

t.test('src/server and src/client never import each other', async (t) => {
  for (const [side, other] of [['server', 'client'], ['client', 'server']] as const) {
    for (const file of sources(`src/${side}`)) {
      for (const spec of importsOf(file).filter((s) => s.startsWith('.'))) {
        const layer = layerOf(file, spec);
        t.not(layer, other, `${file} imports ${spec}`);
        t.notOk(layer.startsWith('outside:'), `${file} reaches outside src: ${spec}`);
      }
    }
  }
});

t.test('shared leaf files import no layer above them', async (t) => {
  for (const file of sources('src').filter((f) => f.split('/').length === 2)) {
    for (const spec of importsOf(file).filter((s) => s.startsWith('.'))) {
      t.match(layerOf(file, spec), /^leaf:/, `${file} imports ${spec}`);
    }
  }
});

t.test('bin/ launchers load only the compiled CLI', async (t) => {
  for (const file of sources('bin')) {
    for (const spec of importsOf(file)) {
      t.match(spec, /^\.\.\/dist\/src\/(server|client)\/cli\/main\.js$/, `${file} imports ${spec}`);
    }
  }
});

t.test('no console.* in src, files stay small', async (t) => {
  for (const file of sources('src')) {
    const text = fs.readFileSync(repoPath(file), 'utf8');
    t.notMatch(text, /\bconsole\.(log|error|warn|info|debug)\(/, `${file} uses console; use the logger`);
    const lines = text.split('\n').length;
    t.ok(lines <= 300, `${file} has ${lines} lines (at most 300)`);
  }
});
