/**
 * The architecture, as docs/architecture.md "Rooms and what may import what" draws it, checked on
 * every import in src/ (static, dynamic, type-only and re-exports alike): rooms in a declared order
 * at every level, no cycle between files or between rooms, the few rooms with stricter rules, and
 * rooms small enough to read.
 */

import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { repoPath } from './fixtures/paths.js';

/**
 * At each level with rooms, its entries (folders and loose files) from the bottom up: an entry may
 * import only entries before it, never one after it. Every entry of such a level must be listed.
 */
const ORDER: Record<string, readonly string[]> = {
  src: [
    'errors.ts',
    'time.ts',
    'cancel.ts',
    'version.ts',
    'log.ts',
    'runtime',
    'proto',
    'config',
    'streams',
    'http',
    'cli',
    'mux',
    'client',
    'server',
  ],
  'src/proto': ['names.ts', 'service-access.ts', 'control', 'http', 'llm'],
  'src/client': [
    'ollama',
    'trusted-cas.ts',
    'reconnect.ts',
    'server-list.ts',
    'config.ts',
    'client-handshake.ts',
    'control-connection.ts',
    'forwarder.ts',
    'client.ts',
    'status',
    'cli',
  ],
  'src/server': [
    'lazy-lru.ts',
    'node-directory.ts',
    'public-urls.ts',
    'observe',
    'storage',
    'api-host',
    'registry',
    'control',
    'presence',
    'cluster',
    'ledger',
    'rewards',
    'keys',
    'models',
    'verify',
    'config.ts',
    'access',
    'public',
    'admin',
    'server-api.ts',
    'server-options.ts',
    'server.ts',
    'cli',
  ],
  'src/server/admin/dashboard': [
    'traffic-ring.ts',
    'dashboard-feed.ts',
    'dashboard-sessions.ts',
    'dashboard-login.ts',
    'dashboard-pages.ts',
    'dashboard-rewards.ts',
    'dashboard-state.ts',
    'dashboard.ts',
    'assets',
  ],
  'src/server/models': [
    'api-errors.ts',
    'api-routes.ts',
    'llm-request.ts',
    'api-config.ts',
    'api-keys.ts',
    'routing',
    'answer',
    'usage-record.ts',
    'catalog-routes.ts',
    'model-request.ts',
    'forwarded-calls.ts',
    'model-api.ts',
  ],
};

/** Rooms that may import only these entries of src (besides themselves and packages). */
const ONLY: Record<string, readonly string[]> = {
  'src/proto': ['src/errors.ts', 'src/time.ts'],
  'src/mux': ['src/errors.ts', 'src/time.ts', 'src/log.ts'],
  'src/runtime': ['src/errors.ts'],
};

/** Two rooms that never import each other, whatever the order says. */
const APART: readonly [string, string][] = [['src/server', 'src/client']];

/** Node modules for sockets and files: never in the pure wire code. */
const SYSTEM_IO = new Set([
  'node:net',
  'node:fs',
  'node:fs/promises',
  'node:tls',
  'node:dgram',
  'node:child_process',
  'node:http',
  'node:https',
]);

/** What reaches into Node's or V8's internals: only src/runtime may. */
const INTERNALS = [/from 'node:v8'/, /from 'node:vm'/, /setFlagsFromString/, /\._handle\b/, /\binternalBinding\b/, /process\.binding\(/];

/** The most loose files a folder holds (src and test), and the most lines a source file has. */
const MAX_LOOSE_FILES = 12;
const MAX_LINES = 300;

/** Every file below `dir` with one of `exts`, as paths relative to the repository root. */
function filesUnder(dir: string, exts = /\.ts$/): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const entry of fs.readdirSync(repoPath(rel), { withFileTypes: true })) {
      const child = path.posix.join(rel, entry.name);
      if (entry.isDirectory()) walk(child);
      else if (exts.test(entry.name)) out.push(child);
    }
  };
  if (fs.existsSync(repoPath(dir))) walk(dir);
  return out;
}

/** Every folder below `dir`, `dir` included. */
function foldersUnder(dir: string): string[] {
  const out = [dir];
  for (const entry of fs.readdirSync(repoPath(dir), { withFileTypes: true })) {
    if (entry.isDirectory()) out.push(...foldersUnder(path.posix.join(dir, entry.name)));
  }
  return out;
}

/** The module specifiers a file imports: statically, dynamically, by require, or re-exported. */
function specifiersOf(file: string): string[] {
  const text = fs.readFileSync(repoPath(file), 'utf8');
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire\s*\(\s*)['"]([^'"]+)['"]/g;
  return [...text.matchAll(re)].map((m) => m[1]!);
}

/** The .ts file a relative specifier of `from` names. */
function resolve(from: string, spec: string): string {
  return path.posix.normalize(path.posix.join(path.posix.dirname(from), spec)).replace(/\.js$/, '.ts');
}

const sources = filesUnder('src');
/** Every import edge between two files of src. */
const edges: { from: string; to: string; spec: string }[] = sources.flatMap((from) =>
  specifiersOf(from)
    .filter((s) => s.startsWith('.'))
    .map((spec) => ({ from, to: resolve(from, spec), spec })),
);

/** Where `from` and `to` part: the folder both are in, and the entry of it that holds each. */
function parting(from: string, to: string): { level: string; fromEntry: string; toEntry: string } {
  const a = from.split('/');
  const b = to.split('/');
  let i = 0;
  while (i < a.length - 1 && i < b.length - 1 && a[i] === b[i]) i++;
  return { level: a.slice(0, i).join('/'), fromEntry: a[i]!, toEntry: b[i]! };
}

const within = (file: string, room: string): boolean => file === room || file.startsWith(`${room}/`);

t.test('every import names a file of src that exists', async (t) => {
  const known = new Set(sources);
  for (const { from, to, spec } of edges) t.ok(known.has(to), `${from} imports ${spec}`);
});

t.test('the declared order lists exactly the entries of each level', async (t) => {
  for (const [level, order] of Object.entries(ORDER)) {
    const entries = fs
      .readdirSync(repoPath(level), { withFileTypes: true })
      .filter((e) => e.isDirectory() || e.name.endsWith('.ts'))
      .map((e) => e.name)
      .sort();
    t.same([...order].sort(), entries, `${level}: every folder and file has its place`);
    t.equal(new Set(order).size, order.length, `${level}: no entry twice`);
  }
});

t.test('at every level, an entry imports only entries below it', async (t) => {
  let checked = 0;
  for (const { from, to, spec } of edges) {
    const { level, fromEntry, toEntry } = parting(from, to);
    const order = ORDER[level];
    if (order === undefined || fromEntry === toEntry) continue;
    checked++;
    t.ok(
      order.indexOf(toEntry) < order.indexOf(fromEntry),
      `${from} imports ${spec}: ${level}/${toEntry} is not below ${level}/${fromEntry}`,
    );
  }
  t.ok(checked > 200, `${checked} imports cross an ordered level`);
});

t.test('rooms with stricter rules import only what they may', async (t) => {
  for (const [room, allowed] of Object.entries(ONLY)) {
    for (const { from, to, spec } of edges.filter((e) => within(e.from, room) && !within(e.to, room))) {
      t.ok(allowed.includes(to), `${from} imports ${spec}`);
    }
  }
  for (const [a, b] of APART) {
    for (const { from, spec, to } of edges) {
      t.notOk((within(from, a) && within(to, b)) || (within(from, b) && within(to, a)), `${from} imports ${spec}`);
    }
  }
  for (const file of sources.filter((f) => within(f, 'src/proto'))) {
    for (const spec of specifiersOf(file)) t.notOk(SYSTEM_IO.has(spec) || SYSTEM_IO.has(`node:${spec}`), `${file} must not import ${spec}`);
  }
});

t.test('only src/runtime touches Node and V8 internals, and others reach it through its index', async (t) => {
  for (const file of sources.filter((f) => !within(f, 'src/runtime'))) {
    const text = fs.readFileSync(repoPath(file), 'utf8');
    for (const pattern of INTERNALS) t.notMatch(text, pattern, `${file}: ${pattern}`);
  }
  for (const { from, to, spec } of edges.filter((e) => within(e.to, 'src/runtime') && !within(e.from, 'src/runtime'))) {
    t.equal(to, 'src/runtime/index.ts', `${from} imports ${spec}`);
  }
});

/** The cycles of a graph given as adjacency lists: each as the path that closes it. */
function cycles(graph: Map<string, Set<string>>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): void => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 'open') found.push([...stack.slice(stack.indexOf(next)), next]);
      else if (state.get(next) === undefined) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of graph.keys()) if (state.get(node) === undefined) visit(node);
  return found;
}

function addEdge(graph: Map<string, Set<string>>, from: string, to: string): void {
  if (!graph.has(from)) graph.set(from, new Set());
  graph.get(from)!.add(to);
}

t.test('no import cycle between files, nor between the entries of any folder', async (t) => {
  const files = new Map<string, Set<string>>();
  for (const { from, to } of edges) addEdge(files, from, to);
  t.same(cycles(files), [], 'files');
  const levels = new Map<string, Map<string, Set<string>>>();
  for (const { from, to } of edges) {
    const { level, fromEntry, toEntry } = parting(from, to);
    if (fromEntry === toEntry) continue;
    if (!levels.has(level)) levels.set(level, new Map());
    addEdge(levels.get(level)!, fromEntry, toEntry);
  }
  for (const [level, graph] of levels) t.same(cycles(graph), [], `entries of ${level}`);
  t.ok(levels.size >= 10, `${levels.size} folders have imports between their entries`);
});

t.test('the cycle finder finds a cycle', async (t) => {
  const graph = new Map<string, Set<string>>();
  addEdge(graph, 'a', 'b');
  addEdge(graph, 'b', 'c');
  addEdge(graph, 'c', 'a');
  addEdge(graph, 'c', 'd');
  t.same(cycles(graph), [['a', 'b', 'c', 'a']]);
});

t.test("bin/ launchers load only their program's bundle (scripts/bundle.js)", async (t) => {
  for (const file of filesUnder('bin', /\.js$/)) {
    const program = path.basename(file, '.js');
    for (const spec of specifiersOf(file)) t.equal(spec, `../dist/${program}/${program}.js`, `${file} imports ${spec}`);
  }
});

t.test('rooms stay small (a dozen loose files a folder, 300 lines a file), private members are #private, no console', async (t) => {
  for (const folder of [...foldersUnder('src'), ...foldersUnder('test').filter((f) => !within(f, 'test/fixtures/config'))]) {
    const loose = fs.readdirSync(repoPath(folder), { withFileTypes: true }).filter((e) => e.isFile()).length;
    t.ok(loose <= MAX_LOOSE_FILES, `${folder} holds ${loose} loose files`);
  }
  for (const file of sources) {
    const text = fs.readFileSync(repoPath(file), 'utf8');
    t.notMatch(text, /\bconsole\.(log|error|warn|info|debug)\(/, `${file} uses console; use the logger`);
    t.notMatch(
      text,
      /^\s*(?:(?:public|private|protected|readonly|static|override)\s+)*(?:private|protected)\s+(?!constructor\b)/m,
      `${file}: private members are #private`,
    );
    const lines = text.split('\n').length;
    t.ok(lines <= MAX_LINES, `${file} has ${lines} lines`);
  }
});

t.test('nothing cites a document outside the repository', async (t) => {
  const files = [
    ...filesUnder('src'),
    ...filesUnder('test'),
    ...filesUnder('bench'),
    ...filesUnder('config', /\.(yaml|conf|md)$/),
    ...filesUnder('docs', /\.md$/),
    'README.md',
  ];
  const outside =
    /ARCHITECTURE[ ]decision|reference\/[a-z-]+\.md|reference §|\bshared\/(ARCHITECTURE|STYLE|reference)|README[,'’ ]+(Benchmarks|"Credit"|"Rewards"|"Probes)/;
  for (const file of files.filter((f) => f !== 'test/architecture.test.ts'))
    t.notMatch(fs.readFileSync(repoPath(file), 'utf8'), outside, file);
});
