/** Fixture children die with the test process, even when it is killed before its teardown. */
import t from 'tap';
import { runFixture } from '../fixtures/processes/child-lines.js';

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  t.test(`a child of a test process killed by ${signal} is killed too`, async (t) => {
    const parent = runFixture('../reaped-parent.js', []);
    t.teardown(() => void parent.child.kill('SIGKILL'));
    const pid = Number(await parent.waitForLine((line) => /^\d+$/.test(line)));
    t.ok(running(pid), 'the grandchild runs while its parent does');
    parent.child.kill(signal);
    const { signal: died } = await parent.exited;
    t.equal(died, signal, 'the parent died of the signal, as without the reaper');
    // SIGKILL was sent before the parent died; the grandchild is gone once the kernel has reaped it.
    const deadline = Date.now() + 5000;
    while (running(pid) && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    t.notOk(running(pid), 'the grandchild is gone');
  });
}
