import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import { parseClientConfig } from '../../src/client/config.js';
import { currentRuntime, mapsShowGlibc, plannedTricks, type RuntimeFacts, TRICKS, tuningMode } from '../../src/runtime/tuning.js';
import { parseServerConfig } from '../../src/server/config.js';
import { repoPath } from '../fixtures/paths.js';

const NODE_20: RuntimeFacts = { node: '20.20.2', v8: '11.3.244.8-node.38', glibc: true };
const ALL = Object.keys(TRICKS);

t.test('auto: every trick on Node 20 with V8 11.3 and glibc, none elsewhere; off: none', async (t) => {
  t.same(plannedTricks('auto', NODE_20), ALL);
  t.same(
    plannedTricks('auto', { ...NODE_20, glibc: false }),
    ALL.filter((n) => n !== 'glibc-keep-freed'),
    'musl and others: no glibc trick',
  );
  t.same(plannedTricks('auto', { node: '22.12.0', v8: '12.4.254.21-node.21', glibc: true }), [], 'Node 22: not measured');
  t.same(plannedTricks('auto', { node: '18.20.4', v8: '10.2.154.26-node.36', glibc: true }), [], 'Node 18: not measured');
  t.same(plannedTricks('auto', { ...NODE_20, v8: '11.4.1' }), [], 'another V8 under Node 20');
  t.same(plannedTricks('off', NODE_20), []);
  t.same(
    plannedTricks('auto', NODE_20, 'super-node'),
    ALL.filter((n) => n !== 'young-generation-cap'),
    'the super node: every trick but the young-generation cap',
  );
  t.same(plannedTricks('off', NODE_20, 'super-node'), []);
});

t.test('PROXIMA_RUNTIME_TUNING wins over the file; a bad value names the variable', async (t) => {
  t.equal(tuningMode('auto', {}), 'auto');
  t.equal(tuningMode('off', { PROXIMA_RUNTIME_TUNING: '' }), 'off', 'empty is unset');
  t.equal(tuningMode('auto', { PROXIMA_RUNTIME_TUNING: 'off' }), 'off');
  t.equal(tuningMode('off', { PROXIMA_RUNTIME_TUNING: 'auto' }), 'auto');
  t.throws(() => tuningMode('auto', { PROXIMA_RUNTIME_TUNING: 'fast' }), {
    code: 'PRX_ERR_CONFIG_INVALID',
    problems: [{ path: 'PROXIMA_RUNTIME_TUNING', message: 'must be one of auto, off' }],
  });
});

t.test('runtime.tuning in both config files: auto by default, off, anything else names the field', async (t) => {
  const client = { server: 'sn.example:7000', name: 'alpha', token: 'a'.repeat(32) };
  t.equal(parseServerConfig({}).runtime.tuning, 'auto');
  t.equal(parseClientConfig(client).runtime.tuning, 'auto');
  t.equal(parseServerConfig({ runtime: { tuning: 'off' } }).runtime.tuning, 'off');
  t.equal(parseClientConfig({ ...client, runtime: { tuning: 'off' } }).runtime.tuning, 'off');
  t.throws(() => parseServerConfig({ runtime: { tuning: 'on' } }), {
    code: 'PRX_ERR_CONFIG_INVALID',
    problems: [{ path: 'runtime.tuning' }],
  });
  t.throws(() => parseClientConfig({ ...client, runtime: { tuning: true } }), {
    code: 'PRX_ERR_CONFIG_INVALID',
    problems: [{ path: 'runtime.tuning' }],
  });
  t.throws(() => parseServerConfig({ runtime: { tunning: 'off' } }), {
    code: 'PRX_ERR_CONFIG_INVALID',
    problems: [{ path: 'runtime.tunning' }],
  });
});

/**
 * In a fresh process: what the hooks do before any tuning, and after applyRuntimeTuning(`mode`).
 * Prints whether connectOptions copied its options onto a prototype-free object and whether
 * tuneAcceptPath installed the accept wrapper on a listening server, before and after, what was
 * applied by the first and by a second call, and whether node:v8 was loaded (Node's own list of the
 * built-in modules a process loaded; the GC settings need it, nothing else of ours does).
 */
const HOOKS = (mode: string): string => `
  import net from 'node:net';
  import { once } from 'node:events';
  const { applyRuntimeTuning, connectOptions, tuneAcceptPath } = await import(${JSON.stringify(pathToFileURL(repoPath('dist', 'src', 'runtime', 'index.js')).href)});
  const settings = { allowHalfOpen: true, noDelay: true, highWaterMark: 65536 };
  const look = async () => {
    const options = { port: 1 };
    const copied = connectOptions(options);
    const server = net.createServer(settings);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const wrapped = tuneAcceptPath(server, settings);
    server.close();
    return { copied: copied !== options && Object.getPrototypeOf(copied) === null && copied.port === 1, wrapped };
  };
  const before = await look();
  const applied = await applyRuntimeTuning(${JSON.stringify(mode)});
  const again = await applyRuntimeTuning('auto');
  const v8 = process.moduleLoadList.includes('NativeModule v8');
  console.log(JSON.stringify({ before, applied, again, after: await look(), v8 }));`;

async function hooks(mode: string): Promise<Record<string, unknown>> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', HOOKS(mode)], {
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  return JSON.parse(stdout) as Record<string, unknown>;
}

t.test('the hooks do what Node does until a trick is applied, and after off', async (t) => {
  const untouched = { copied: false, wrapped: false };
  t.same(
    await hooks('off'),
    { before: untouched, applied: [], again: [], after: untouched, v8: false },
    'a second call applies nothing either',
  );
});

t.test('auto turns the hooks on where it applies their tricks', async (t) => {
  const planned = plannedTricks('auto', currentRuntime());
  const on = { copied: planned.includes('connect-shapes'), wrapped: planned.includes('accept-shapes') };
  const gc = planned.some((trick) => ['array-buffer-sweep', 'young-generation-cap', 'scavenge-on-reads'].includes(trick));
  t.same(await hooks('auto'), { before: { copied: false, wrapped: false }, applied: planned, again: [], after: on, v8: gc });
  t.comment(`on Node ${process.versions.node}, V8 ${process.versions.v8}: ${planned.join(', ') || 'nothing'}`);
});

t.test('glibc is recognised in /proc/self/maps under its names before and after 2.34; musl is not glibc', async (t) => {
  const line = (file: string): string => `7f1c2a000000-7f1c2a028000 r--p 00000000 08:01 131 ${file}\n`;
  t.ok(mapsShowGlibc(line('/usr/lib/x86_64-linux-gnu/libc.so.6')), 'glibc 2.34 and later');
  t.ok(mapsShowGlibc(line('/lib/x86_64-linux-gnu/libc-2.31.so')), 'Debian 11');
  t.ok(mapsShowGlibc(line('/usr/lib64/libc-2.28.so')), 'RHEL 8');
  t.notOk(mapsShowGlibc(line('/lib/ld-musl-x86_64.so.1')), 'Alpine');
  t.notOk(mapsShowGlibc(line('/usr/lib/libc.so.6.bak') + line('/opt/x/mylibc-2.31.so')), 'other files');
  t.equal(currentRuntime().glibc, mapsShowGlibc(fs.readFileSync('/proc/self/maps', 'utf8')), 'this process');
});
