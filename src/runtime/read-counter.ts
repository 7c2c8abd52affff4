/**
 * The count behind the "scavenge every 4 MiB read" trick (gc-tuning.ts), in a module of its own with
 * no imports: every socket read calls noteBytesRead, and a program that applies no trick should not
 * load node:v8 (about 1.4 MiB of memory) to do nothing.
 */

/** What noteBytesRead counts towards: the threshold (Infinity when off), the bytes so far, the collection. */
const reads = { threshold: Infinity, pending: 0, scheduled: false, collect: (): void => undefined };

/**
 * Counts `bytes` just read from a socket. Once the threshold has been read since the last time, the
 * collection runs on the next turn of the event loop (after the reads of this one have been handled).
 * Costs nothing but an addition until collectEvery() ran.
 */
export function noteBytesRead(bytes: number): void {
  reads.pending += bytes;
  if (reads.pending < reads.threshold || reads.scheduled) return;
  reads.pending = 0;
  reads.scheduled = true;
  setImmediate(runCollection);
}

function runCollection(): void {
  reads.scheduled = false;
  reads.collect();
}

/** Makes noteBytesRead call `collect` every `bytes`; returns a function that stops it. */
export function collectEvery(bytes: number, collect: () => void): () => void {
  reads.collect = collect;
  reads.threshold = bytes;
  reads.pending = 0;
  return () => {
    reads.threshold = Infinity;
  };
}
