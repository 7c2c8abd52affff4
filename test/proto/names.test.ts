import t from 'tap';
import { checkNodeName, checkServiceName, labelProblem, RESERVED_NAMES } from '../../src/proto/names.js';

t.test('valid labels pass', async (t) => {
  for (const name of ['a', 'alpha', 'gpu-box-1', '0', 'x'.repeat(63), 'a-b-c']) {
    t.equal(labelProblem(name), undefined, name);
    t.doesNotThrow(() => checkNodeName(name), name);
  }
});

t.test('invalid labels are refused with PRX_ERR_NAME_INVALID', async (t) => {
  for (const name of ['', 'A', 'Alpha', '-a', 'a-', 'a--b', 'a_b', 'a.b', 'x'.repeat(64), 'é', ' a', 42, null]) {
    t.throws(() => checkNodeName(name), { code: 'PRX_ERR_NAME_INVALID' }, JSON.stringify(name));
    t.throws(() => checkServiceName(name), { code: 'PRX_ERR_NAME_INVALID' }, JSON.stringify(name));
  }
});

t.test('reserved names are refused for nodes only', async (t) => {
  for (const name of ['api', 'www', 'admin']) {
    t.ok(RESERVED_NAMES.has(name));
    t.throws(() => checkNodeName(name), { code: 'PRX_ERR_NAME_RESERVED' }, name);
    t.doesNotThrow(() => checkServiceName(name), name);
  }
});
