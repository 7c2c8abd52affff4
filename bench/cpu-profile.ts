/**
 * Self time of a V8 CPU profile (`node --cpu-prof`), summed by function and by module: what
 * docs/performance-notes.md "Where an API chat's CPU goes" was written from. Profile the programs
 * under a load of bench/api.ts, then summarise each file:
 * ```
 * BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" BENCH_ONLY=whole node dist/bench/api.js
 * node dist/bench/cpu-profile.js /tmp/prof/CPU.*.cpuprofile [top]
 * ```
 * A module is a file of the repository (src/…; in the programs' bundles, the source a line comes from),
 * a package (node_modules/<name>), `node:` for Node's own JavaScript, or `(native)` for V8 and C++
 * (the garbage collector, `(program)`, `(idle)`). A function's line is its file's: the bundle's line
 * for the programs (each source there starts after a `// dist/src/x.js` line).
 */
import fs from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Per file of a program's bundle (dist/proxima-*), the line each source starts at: esbuild marks it `// dist/src/x.js`. */
const bundleMarks = new Map<string, { line: number; source: string }[]>();

/** The source a line of a bundle's file comes from (`src/x.js`), or undefined before the first mark. */
function bundledSource(url: string, line: number): string | undefined {
  let marks = bundleMarks.get(url);
  if (marks === undefined) {
    marks = [];
    for (const [i, text] of fs.readFileSync(new URL(url), 'utf8').split('\n').entries()) {
      const mark = /^\/\/ dist\/(src\/\S+\.js)$/.exec(text);
      if (mark) marks.push({ line: i, source: mark[1]! });
    }
    bundleMarks.set(url, marks);
  }
  return marks.findLast((m) => m.line <= line)?.source;
}

function moduleOf(url: string, name: string, line: number): string {
  if (url === '') return name.startsWith('(') ? name : '(native)';
  if (url.startsWith('node:')) return 'node:';
  const packaged = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (packaged) return `node_modules/${packaged[1]}`;
  if (/\/dist\/proxima-(server|client)\/[\w-]+\.js$/.test(url)) return bundledSource(url, line) ?? url;
  const own = /\/dist\/(.*)$/.exec(url);
  return own ? own[1]! : url;
}

function summarise(file: string, top: number): void {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let total = 0;
  for (const [i, id] of profile.samples.entries()) {
    const dt = profile.timeDeltas[i] ?? 0;
    self.set(id, (self.get(id) ?? 0) + dt);
    total += dt;
  }
  const byFunction = new Map<string, number>();
  const byModule = new Map<string, number>();
  let idle = 0;
  for (const [id, us] of self) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    if (functionName === '(idle)') {
      idle += us;
      continue;
    }
    const mod = moduleOf(url, functionName, lineNumber);
    const fn = `${functionName || '(anonymous)'} ${mod}${url === '' ? '' : `:${lineNumber + 1}`}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
    byModule.set(mod, (byModule.get(mod) ?? 0) + us);
  }
  const busy = total - idle;
  const rows = (map: Map<string, number>): string =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, us]) => `| ${((100 * us) / busy).toFixed(1)}% | ${k} |`)
      .join('\n');
  process.stdout.write(
    `${file}: ${(busy / 1000).toFixed(0)} ms busy of ${(total / 1000).toFixed(0)} ms sampled\n` +
      `| self | module |\n|---|---|\n${rows(byModule)}\n\n| self | function |\n|---|---|\n${rows(byFunction)}\n\n`,
  );
}

const args = process.argv.slice(2);
const top = /^\d+$/.test(args.at(-1) ?? '') ? Number(args.pop()) : 25;
for (const file of args) summarise(file, top);
