/**
 * Garbage-collector settings for the two long-running programs, applied when they start.
 *
 * Every socket read allocates a new ArrayBuffer, so a tunnel moving 800 MiB/s allocates 800 MiB/s
 * of memory outside the JS heap. V8 frees the dead ones after each scavenge, but by default on a
 * background thread, and counts them as allocated until that thread has run. On a busy machine (two
 * cores shared with the node's web server and its users) it runs late, V8 sees tens of megabytes of
 * "new" external memory right after every scavenge, and starts a full mark-compact: about 16 a
 * second per process, measured with `--trace-gc` during the 10 MiB download benchmark. Freeing them
 * within the scavenge itself costs well under a millisecond and removes most of them (the README's
 * Benchmarks section has the counts and the throughput before and after).
 *
 * The young generation (where V8 puts new objects) doubles each time the objects surviving
 * scavenges add up to its size, up to 32 MiB, and stays that large. A tunnel's objects are mostly
 * short-lived (a request's, a chunk's), yet after a few thousand connections both programs carried
 * 16 to 30 MiB of it; at 4 MiB they measured about as fast (1 KiB responses up to 5% slower,
 * downloads no slower: the README's Benchmarks section). It stops growing at
 * YOUNG_GENERATION_CAP_BYTES: V8 reads its growth factor each time it grows the space, so a look
 * after every garbage collection keeps it at 1 (no growth) from the cap on, and at V8's default of
 * 2 below it (V8 shrinks the space when allocation slows down). Node reports a collection to JS a
 * turn or two of the event loop after it, so a burst of allocation can take the space one doubling
 * past the cap before the look (8 MiB in the test's load); it grows no further.
 *
 * Both switches are plain values V8 reads when it uses them, so they can change while the program
 * runs (flags that shape the heap or its threads cannot: V8 aborts). A `--max-semi-space-size` of
 * the user's (on the command line or in NODE_OPTIONS) is left to decide alone.
 *
 * Socket read buffers also stay allocated until a scavenge finds them dead, and V8 forces one for
 * them only once 32 MiB of new ArrayBuffers have piled up. glibc keeps that peak resident after the
 * load (it returns memory only from the top of its heap), and a download cycles through all of it,
 * out of the CPU's caches. The programs count what they read (noteBytesRead) and ask for a scavenge
 * every SCAVENGE_EVERY_READ_BYTES instead: in the tunnel benchmark the super node's RSS after load
 * fell from 96–116 to 83–98 MiB, at the same throughput (README, Benchmarks).
 *
 * What a scavenge frees, glibc gave back to the kernel: the buffers of the reads since the last one
 * sit together at the top of its heap, and glibc returns free memory there past its trim threshold
 * (128 KiB by default). The next reads took the same memory back from the kernel a page at a time,
 * each page faulted in and zeroed inside the kernel's copy into the buffer: 10,000 to 80,000 page
 * faults a second in each program during a download (perf: exc_page_fault under _copy_to_iter).
 * glibc raises its trim threshold to twice the size of the largest mapped block freed (mallopt(3):
 * the dynamic mmap threshold), so the programs free one block of SCAVENGE_EVERY_READ_BYTES when they
 * start: glibc then keeps what one scavenge frees for the next reads. The faults fell to a few
 * hundred a second and one connection's downloads went from 881–1,075 to 1,106–1,157 MiB/s. The
 * scavenges went from every 8 MiB read to every 4 at the same time: with 8 (and this block), the
 * super node's RSS after load was 91–103 MiB; with 4, 79–88, as before (README, Benchmarks).
 * Other allocators ignore the block.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { PerformanceObserver } from 'node:perf_hooks';

/** The young generation's size (both semi-spaces) past which it does not grow. */
export const YOUNG_GENERATION_CAP_BYTES = 4 * 1024 * 1024;

/** Socket bytes read between two young-generation collections the program asks for. */
export const SCAVENGE_EVERY_READ_BYTES = 4 * 1024 * 1024;

/** V8's gc(), as --expose-gc gives it. */
type Gc = (options: { type: 'minor' | 'major' }) => void;

/** V8's own growth factor for the young generation. */
const V8_GROWTH_FACTOR = 2;

/** Applies the four settings; returns a function that undoes the cap and the scavenges (for tests). */
export function tuneGarbageCollector(): () => void {
  v8.setFlagsFromString('--no-concurrent-array-buffer-sweeping');
  const flags = [...process.execArgv, process.env.NODE_OPTIONS ?? ''];
  const stopCapping = flags.some((flag) => flag.includes('semi-space-size')) ? () => undefined : capYoungGeneration(YOUNG_GENERATION_CAP_BYTES);
  const gc = exposedGc();
  keepFreedMemory(SCAVENGE_EVERY_READ_BYTES, gc);
  const stopScavenging = scavengeEvery(SCAVENGE_EVERY_READ_BYTES, gc);
  return () => {
    stopScavenging();
    stopCapping();
  };
}

/** What noteBytesRead counts towards: the threshold (Infinity when off), the bytes so far, the GC. */
const reads = { threshold: Infinity, pending: 0, scheduled: false, scavenge: (): void => undefined };

/**
 * Counts `bytes` just read from a socket. Once `SCAVENGE_EVERY_READ_BYTES` have been read since the
 * last one, a young-generation collection runs on the next turn of the event loop (after the reads
 * of this one have been handled). Costs nothing but an addition until tuneGarbageCollector() ran.
 */
export function noteBytesRead(bytes: number): void {
  reads.pending += bytes;
  if (reads.pending < reads.threshold || reads.scheduled) return;
  reads.pending = 0;
  reads.scheduled = true;
  setImmediate(runScavenge);
}

function runScavenge(): void {
  reads.scheduled = false;
  reads.scavenge();
}

/**
 * Has glibc keep up to twice `bytes` of free memory at the top of its heap: a block of `bytes`,
 * mapped (it is past the 128 KiB mmap threshold) and freed at once by a scavenge, raises the trim
 * threshold to 2 × `bytes` and the mmap threshold to `bytes` (the file comment says why).
 */
function keepFreedMemory(bytes: number, gc: Gc): void {
  Buffer.allocUnsafeSlow(bytes);
  gc({ type: 'minor' });
}

/** Makes noteBytesRead collect every `bytes`; returns a function that stops it. */
function scavengeEvery(bytes: number, gc: Gc): () => void {
  reads.scavenge = () => gc({ type: 'minor' });
  reads.threshold = bytes;
  reads.pending = 0;
  return () => {
    reads.threshold = Infinity;
  };
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
