import t from 'tap';
import { parseNodeFile, serializeNodeFile } from '../../../src/server/registry/node-file.js';

const alpha = { name: 'alpha', keyId: '0123456789abcdef', createdAt: '2025-01-01T00:00:00.000Z', lastSeenAt: null, services: [] };

t.test('round trip keeps unknown fields at the top and in records', async (t) => {
  const text = JSON.stringify({
    version: 1,
    owner: 'ops',
    nodes: { alpha: { ...alpha, tier: 'gold', services: ['ollama'], lastSeenAt: '2025-01-02T00:00:00.000Z' } },
  });
  const state = parseNodeFile(text, '/data/nodes.json');
  t.equal(state.nodes.get('alpha')!.tier, 'gold');
  const again = JSON.parse(serializeNodeFile(state)) as Record<string, unknown>;
  t.same(again, JSON.parse(text));
});

t.test('nodes are written sorted by name', async (t) => {
  const state = parseNodeFile(JSON.stringify({ version: 1, nodes: { b: { ...alpha, name: 'b' }, a: { ...alpha, name: 'a' } } }), 'f');
  const text = serializeNodeFile(state);
  t.ok(text.indexOf('"a"') < text.indexOf('"b"'));
  t.ok(text.endsWith('}\n'));
});

t.test('every wrong shape is PRX_ERR_STORE_CORRUPT naming the file', async (t) => {
  const cases: Record<string, string> = {
    'not JSON': '{"version":1,"nodes":{',
    empty: '',
    'an array': '[]',
    'no version': JSON.stringify({ nodes: {} }),
    'a newer version': JSON.stringify({ version: 2, nodes: {} }),
    'nodes not an object': JSON.stringify({ version: 1, nodes: [] }),
    'record not an object': JSON.stringify({ version: 1, nodes: { alpha: 1 } }),
    'key and name differ': JSON.stringify({ version: 1, nodes: { alpha: { ...alpha, name: 'beta' } } }),
    'bad name': JSON.stringify({ version: 1, nodes: { 'Al pha': { ...alpha, name: 'Al pha' } } }),
    'bad key id': JSON.stringify({ version: 1, nodes: { alpha: { ...alpha, keyId: 'xyz' } } }),
    'bad createdAt': JSON.stringify({ version: 1, nodes: { alpha: { ...alpha, createdAt: 'yesterday' } } }),
    'bad lastSeenAt': JSON.stringify({ version: 1, nodes: { alpha: { ...alpha, lastSeenAt: 5 } } }),
    'bad services': JSON.stringify({ version: 1, nodes: { alpha: { ...alpha, services: [1] } } }),
  };
  for (const [why, text] of Object.entries(cases)) {
    t.throws(
      () => parseNodeFile(text, '/srv/data/nodes.json'),
      { code: 'PRX_ERR_STORE_CORRUPT', message: /\/srv\/data\/nodes\.json/ },
      why,
    );
  }
});
