/**
 * The door to the runtime tricks (tuning.ts says what they are and when they apply). The programs
 * call applyRuntimeTuning() once at start; everything else calls the hooks below, which do what
 * Node does by default unless their trick was applied. Nothing outside src/runtime imports the
 * tricks themselves.
 */
import type net from 'node:net';
import { type AcceptOptions, acceptWithSharedShapes } from './accept-sockets.js';
import { socketOptions } from './socket-options.js';
import { currentRuntime, type Program, plannedTricks, type RuntimeFacts, type Trick, type TuningMode } from './tuning.js';

export type { AcceptOptions } from './accept-sockets.js';
export { noteBytesRead } from './read-counter.js';
export { type Program, TRICKS, type Trick, TUNING_ENV, TUNING_MODES, type TuningMode, tuningMode } from './tuning.js';

const applied = new Set<Trick>();
let decided = false;

/**
 * Applies the tricks `mode` calls for in `program` on this runtime, once per process (a second call applies
 * nothing more); resolves with the names of those applied now. The garbage-collector settings are
 * loaded only when one applies (they load node:v8).
 */
export async function applyRuntimeTuning(
  mode: TuningMode,
  program: Program = 'node',
  facts: RuntimeFacts = currentRuntime(),
): Promise<Trick[]> {
  if (decided) return [];
  decided = true;
  const tricks = plannedTricks(mode, facts, program);
  for (const trick of tricks) applied.add(trick);
  const has = (trick: Trick): boolean => applied.has(trick);
  if (has('array-buffer-sweep') || has('young-generation-cap') || has('scavenge-on-reads')) {
    const { tuneGarbageCollector } = await import('./gc-tuning.js');
    tuneGarbageCollector({
      arrayBufferSweep: has('array-buffer-sweep'),
      youngGenerationCap: has('young-generation-cap'),
      scavengeOnReads: has('scavenge-on-reads'),
      glibcKeepFreed: has('glibc-keep-freed'),
    });
  }
  return tricks;
}

/** After `server` listens: accept its sockets through the shared-shape path, when that trick is on. */
export function tuneAcceptPath(server: net.Server, options: AcceptOptions): boolean {
  return applied.has('accept-shapes') && acceptWithSharedShapes(server, options);
}

/** Options for `net.connect`: copied onto an object with no prototype when that trick is on, else as given. */
export function connectOptions<T extends object>(options: T): T {
  return applied.has('connect-shapes') ? socketOptions(options) : options;
}
