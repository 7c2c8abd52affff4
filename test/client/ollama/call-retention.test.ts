import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { runLines, stopFixture } from '../../fixtures/processes/child-lines.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const fixture = path.join(here, 'call-retention-child.js');

/**
 * A finished call to Ollama dies young. With closures over its promise's resolvers stored on the
 * call, 800 calls in unoptimized code left 2.9-3.0 MB of their objects promoted into the old
 * generation, freed only by a full collection (0.3-0.5 MB without them: the program's own start).
 */
t.test('finished OllamaCalls are not promoted by young-generation collections', async (t) => {
  const run = runLines(fixture, [], { nodeArgs: ['--expose-gc', '--no-opt', '--no-sparkplug'] });
  t.teardown(() => stopFixture(run));
  const line = await run.waitForLine((l) => l.startsWith('{'));
  const { calls, promotedGarbage } = JSON.parse(line) as { calls: number; promotedGarbage: number };
  t.equal(calls, 800, 'every call answered in full');
  t.ok(promotedGarbage < 1024 * 1024, `old-generation garbage after the calls: ${promotedGarbage} bytes (under 1 MiB)`);
  t.equal((await run.exited).code, 0, run.otherOutput());
});
