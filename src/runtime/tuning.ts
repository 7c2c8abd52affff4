/**
 * The one switch for the runtime tricks: code that relies on Node or V8 internals, not on their
 * documented API. `runtime.tuning` in either config file (or PROXIMA_RUNTIME_TUNING, which wins)
 * is `auto` or `off`. `auto` applies each trick only where it was measured to help: Node 20 with
 * V8 11.3 (docs/benchmarks.md "Runtime tuning on and off" has both rows; docs/performance-notes.md
 * says how each trick was found). Elsewhere, and with `off`, the programs run on Node's defaults:
 * no other code depends on a trick being on.
 */
import fs from 'node:fs';
import { ConfigError } from '../errors.js';

/** The values of `runtime.tuning`. */
export const TUNING_MODES = ['auto', 'off'] as const;
export type TuningMode = (typeof TUNING_MODES)[number];

/** The environment variable that overrides `runtime.tuning`. */
export const TUNING_ENV = 'PROXIMA_RUNTIME_TUNING';

/** What a trick needs of the runtime to be applied in `auto`. */
export interface RuntimeFacts {
  /** process.versions.node, e.g. `20.20.2`. */
  node: string;
  /** process.versions.v8, e.g. `11.3.244.8-node.38`. */
  v8: string;
  /** True when the process runs on glibc (not musl, macOS or Windows). */
  glibc: boolean;
}

/** Every trick, by name, with what it does (for the log) and where it was measured. */
export const TRICKS = {
  'array-buffer-sweep': 'V8 frees dead socket buffers within each scavenge, not on a background thread',
  'young-generation-cap': 'the young generation stops growing at 4 MiB',
  'scavenge-on-reads': 'a young-generation collection every 4 MiB read from sockets',
  'glibc-keep-freed': 'glibc keeps the memory a scavenge frees for the next reads',
  'accept-shapes': 'accepted public sockets are built from options with no prototype',
  'connect-shapes': 'sockets the node dials are built from options with no prototype',
} as const;
export type Trick = keyof typeof TRICKS;

/** Which program applies the tricks: the node (`proxima-client`) or the super node (`proxima-server`). */
export type Program = 'node' | 'super-node';

/**
 * Tricks for the node only. The super node's API path spent 16% of its CPU collecting garbage with
 * the young generation capped and 5% without (docs/performance-notes.md, "The super node's young
 * generation"); the cap is the node's memory target, which the super node does not share.
 */
const NODE_ONLY: readonly Trick[] = ['young-generation-cap'];

/** Node 20's V8, where every trick was measured (Node 20.20, V8 11.3.244). */
const MEASURED_NODE_MAJOR = 20;
const MEASURED_V8 = '11.3.';

/** The tricks `mode` applies in `program` on a runtime described by `facts`, in the order they are applied. */
export function plannedTricks(mode: TuningMode, facts: RuntimeFacts, program: Program = 'node'): Trick[] {
  if (mode === 'off') return [];
  const measured = Number.parseInt(facts.node, 10) === MEASURED_NODE_MAJOR && facts.v8.startsWith(MEASURED_V8);
  if (!measured) return [];
  const tricks = (Object.keys(TRICKS) as Trick[]).filter((t) => program === 'node' || !NODE_ONLY.includes(t));
  // The block glibc is made to keep is sized for the scavenges' batches; other allocators ignore it.
  return facts.glibc ? tricks : tricks.filter((t) => t !== 'glibc-keep-freed');
}

/** The mode in force: PROXIMA_RUNTIME_TUNING when set, else the config file's. */
export function tuningMode(configured: TuningMode, env: NodeJS.ProcessEnv = process.env): TuningMode {
  const value = env[TUNING_ENV];
  if (value === undefined || value === '') return configured;
  if ((TUNING_MODES as readonly string[]).includes(value)) return value as TuningMode;
  throw new ConfigError([{ path: TUNING_ENV, message: `must be one of ${TUNING_MODES.join(', ')}` }], 'the environment');
}

/** The facts of this process's runtime. */
export function currentRuntime(): RuntimeFacts {
  return { node: process.versions.node, v8: process.versions.v8, glibc: glibcLoaded() };
}

/**
 * True when glibc's libc is mapped into this process. Read from /proc/self/maps: a diagnostic report
 * (process.report) says it too, but building one costs the process about 1.7 MiB of memory it keeps.
 */
function glibcLoaded(): boolean {
  if (process.platform !== 'linux') return false;
  try {
    return mapsShowGlibc(fs.readFileSync('/proc/self/maps', 'utf8'));
  } catch {
    return false;
  }
}

/**
 * True when a /proc/<pid>/maps text maps glibc: `libc.so.6` (glibc 2.34 on) or `libc-2.NN.so` (before,
 * e.g. Debian 11's 2.31, RHEL 8's 2.28); musl maps `ld-musl-*.so.1` instead.
 */
export function mapsShowGlibc(maps: string): boolean {
  return /\/libc(?:\.so\.6|-2\.\d+\.so)$/m.test(maps);
}
