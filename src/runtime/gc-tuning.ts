/**
 * Garbage-collector settings for the two long-running programs, applied at start when
 * `runtime.tuning` allows (tuning.ts). Each is written up in docs/performance-notes.md, with what it
 * cost and gained on Node 20:
 *
 * - Dead socket buffers freed within each scavenge (`--no-concurrent-array-buffer-sweeping`), so V8
 *   does not count them as new external memory and start full collections, about 16 a second per
 *   process during a download ("Array buffers freed within the scavenge").
 * - The young generation capped at YOUNG_GENERATION_CAP_BYTES: V8 reads its growth factor each time
 *   it grows the space, so a look after every collection keeps it at 1 from the cap on ("Young
 *   generation capped at 4 MiB"). A `--max-semi-space-size` of the user's is left to decide alone.
 * - A scavenge every SCAVENGE_EVERY_READ_BYTES read (noteBytesRead), so socket read buffers do not
 *   pile up to V8's own 32 MiB trigger ("A scavenge every 4 MiB read").
 * - One block of that size freed by the first of those scavenges, which raises glibc's trim threshold
 *   so that it keeps what a scavenge frees for the next reads instead of returning it to the kernel
 *   page by page ("glibc keeps what a scavenge frees"). Other allocators ignore the block.
 *
 * gc() is fetched at that first scavenge, not at start: the context made to fetch it costs an idle
 * program about 0.5 MiB, and a program that never reads 4 MiB never needs it.
 *
 * The flags are plain values V8 reads when it uses them, so they can change while the program runs
 * ("V8 flags set while the program runs"); flags that shape the heap or its threads cannot.
 */

import { PerformanceObserver } from 'node:perf_hooks';
import { collectEvery } from './read-counter.js';

export { noteBytesRead } from './read-counter.js';

import v8 from 'node:v8';
import vm from 'node:vm';

/** The young generation's size (both semi-spaces) past which it does not grow. */
export const YOUNG_GENERATION_CAP_BYTES = 4 * 1024 * 1024;

/** Socket bytes read between two young-generation collections the program asks for. */
export const SCAVENGE_EVERY_READ_BYTES = 4 * 1024 * 1024;

/** V8's gc(), as --expose-gc gives it. */
type Gc = (options: { type: 'minor' | 'major' }) => void;

/** V8's own growth factor for the young generation. */
const V8_GROWTH_FACTOR = 2;

/** Which of the four settings to apply (all by default). */
export interface GcTricks {
  /** Dead ArrayBuffers freed within the scavenge (`--no-concurrent-array-buffer-sweeping`). */
  arrayBufferSweep: boolean;
  youngGenerationCap: boolean;
  /** A scavenge every SCAVENGE_EVERY_READ_BYTES read (noteBytesRead). */
  scavengeOnReads: boolean;
  /** glibc keeps what a scavenge frees; only with scavengeOnReads. */
  glibcKeepFreed: boolean;
}

const ALL: GcTricks = { arrayBufferSweep: true, youngGenerationCap: true, scavengeOnReads: true, glibcKeepFreed: true };

/** Applies the chosen settings; returns a function that undoes the cap and the scavenges (for tests). */
export function tuneGarbageCollector(tricks: GcTricks = ALL): () => void {
  if (tricks.arrayBufferSweep) v8.setFlagsFromString('--no-concurrent-array-buffer-sweeping');
  const flags = [...process.execArgv, process.env.NODE_OPTIONS ?? ''];
  const userSized = flags.some((flag) => flag.includes('semi-space-size'));
  const stopCapping = tricks.youngGenerationCap && !userSized ? capYoungGeneration(YOUNG_GENERATION_CAP_BYTES) : () => undefined;
  if (!tricks.scavengeOnReads) return stopCapping;
  let gc: Gc | undefined;
  const stopScavenging = collectEvery(SCAVENGE_EVERY_READ_BYTES, () => {
    if (gc !== undefined) return gc({ type: 'minor' });
    gc = exposedGc();
    if (tricks.glibcKeepFreed) keepFreedMemory(SCAVENGE_EVERY_READ_BYTES, gc);
    else gc({ type: 'minor' });
  });
  return () => {
    stopScavenging();
    stopCapping();
  };
}

/**
 * Has glibc keep up to twice `bytes` of free memory at the top of its heap: a block of `bytes`,
 * mapped (it is past the 128 KiB mmap threshold) and freed at once by a scavenge (the first one the
 * reads ask for), raises the trim threshold to 2 × `bytes` and the mmap threshold to `bytes` (the
 * file comment says why).
 */
function keepFreedMemory(bytes: number, gc: Gc): void {
  Buffer.allocUnsafeSlow(bytes);
  gc({ type: 'minor' });
}

/**
 * V8's gc(), which a program gets only with --expose-gc: set now, the flag gives it to contexts
 * created from then on, so one is made to fetch it (about 2 MiB), and the flag is cleared again.
 */
function exposedGc(): Gc {
  const own = (globalThis as { gc?: Gc }).gc;
  if (own !== undefined) return own;
  v8.setFlagsFromString('--expose-gc');
  try {
    return vm.runInNewContext('gc') as Gc;
  } finally {
    v8.setFlagsFromString('--no-expose-gc');
  }
}

/** Keeps V8's young generation from growing past `capBytes`; returns a function that stops it. */
function capYoungGeneration(capBytes: number): () => void {
  let factor = V8_GROWTH_FACTOR;
  const check = (): void => {
    const wanted = youngGenerationBytes() >= capBytes ? 1 : V8_GROWTH_FACTOR;
    if (wanted === factor) return;
    factor = wanted;
    v8.setFlagsFromString(`--semi-space-growth-factor=${wanted}`);
  };
  const observer = new PerformanceObserver(check);
  observer.observe({ entryTypes: ['gc'] });
  check();
  return () => {
    observer.disconnect();
    if (factor !== V8_GROWTH_FACTOR) v8.setFlagsFromString(`--semi-space-growth-factor=${V8_GROWTH_FACTOR}`);
  };
}

/** The young generation's committed size, both semi-spaces. */
export function youngGenerationBytes(): number {
  return v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
}
