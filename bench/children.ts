/**
 * The processes a benchmark starts, killed when the benchmark exits however it exits: an uncaught
 * error, or stdout closed under it (`npm run bench | head` ends in EPIPE). Without this, a crashed
 * run leaves proxima-server, proxima-client or nginx running, and they skew every later measurement.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

const running = new Set<ChildProcess>();

// SIGTERM, not SIGKILL: nginx's master stops its workers on SIGTERM, while SIGKILL would leave them
// running; the Proxima programs drain and exit, and their users are gone by then.
process.once('exit', () => {
  for (const child of running) child.kill('SIGTERM');
});

/** `spawn`, with the child killed when this process exits if it is still running then. */
export function spawnOwned(command: string, args: readonly string[], options: SpawnOptions): ChildProcess {
  const child = spawn(command, args, options);
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}
