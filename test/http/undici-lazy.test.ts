import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import t from 'tap';
import { silentLogger } from '../../src/log.js';

/** Whether any file of undici has been loaded in this process. */
function undiciLoaded(): boolean {
  return Object.keys(createRequire(import.meta.url).cache).some((file) => file.includes('/node_modules/undici/'));
}

const turns = async (n: number): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
};

t.test('undici is loaded by neither program starting, nor by a node sharing a model', async (t) => {
  await import('../../src/server/cli/main.js');
  await import('../../src/client/cli/main.js');
  const { UpstreamPools } = await import('../../src/server/models/routing/upstream-pools.js');
  t.notOk(undiciLoaded(), "both programs' modules, the API's pools among them, are in; undici is not");

  const nodes = new EventEmitter();
  const pools = new UpstreamPools({ nodes, logger: silentLogger });
  t.teardown(() => pools.destroy());
  const node = (services: unknown[]) => ({
    name: 'alpha',
    online: true,
    services,
    openStream: () => {
      throw new Error('unused');
    },
  });
  nodes.emit(
    'advertised',
    node([
      { name: 'web', kind: 'http' },
      { name: 'ollama', kind: 'ollama', models: [] },
    ]),
  );
  await turns(3);
  t.notOk(undiciLoaded(), 'a node sharing no model loads nothing');
  nodes.emit('advertised', node([{ name: 'ollama', kind: 'ollama', models: [{ name: 'llama3.2:1b' }] }]));
  await turns(3);
  t.notOk(undiciLoaded(), "a node sharing a model: the API's pools are the super node's own HTTP client");
  const { undici } = await import('../../src/http/undici-lazy.js');
  t.type(undici().Pool, 'function', 'register still loads it when called');
  t.ok(undiciLoaded());
});
