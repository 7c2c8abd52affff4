/**
 * One garbage-collector setting for the two long-running programs, applied when they start.
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
 * `concurrent_array_buffer_sweeping` is a plain switch V8 reads each time it starts a sweep, so it
 * can change while the program runs (flags that shape the heap or its threads cannot: V8 aborts).
 */
import v8 from 'node:v8';

/** Makes V8 free dead ArrayBuffers during the scavenge that finds them, on the main thread. */
export function tuneGarbageCollector(): void {
  v8.setFlagsFromString('--no-concurrent-array-buffer-sweeping');
}
