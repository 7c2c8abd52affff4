import t from 'tap';
import type { ServiceAdvert } from '../../../src/proto/control/messages.js';
import type { LiveNode, NodeDirectory } from '../../../src/server/node-directory.js';
import { resolveTenant, routeHost, sameTenant } from '../../../src/server/public/host-route.js';

t.test('routeHost: nodes and services under the domain, the API for everything else', async (t) => {
  const cases: [string | undefined, object][] = [
    ['alpha.proxima.test', { kind: 'node', node: 'alpha', service: undefined }],
    ['web--alpha.proxima.test', { kind: 'node', node: 'alpha', service: 'web' }],
    ['my-web--my-node.proxima.test', { kind: 'node', node: 'my-node', service: 'my-web' }],
    ['proxima.test', { kind: 'api' }],
    ['api.proxima.test', { kind: 'api' }],
    [undefined, { kind: 'api' }],
    ['127.0.0.1', { kind: 'api' }],
    ['[::1]', { kind: 'api' }],
    ['example.org', { kind: 'api' }],
    ['proxima.test.example.org', { kind: 'api' }],
    ['xproxima.test', { kind: 'api' }],
    ['a.b.proxima.test', { kind: 'unknown' }],
    ['-x.proxima.test', { kind: 'unknown' }],
    ['web--.proxima.test', { kind: 'unknown' }],
    ['--alpha.proxima.test', { kind: 'unknown' }],
    ['a--b--c.proxima.test', { kind: 'unknown' }],
    ['under_score.proxima.test', { kind: 'unknown' }],
  ];
  for (const [host, route] of cases) t.same(routeHost(host, 'proxima.test'), route, String(host));
});

function directory(nodes: Record<string, ServiceAdvert[]>, offline: string[] = []): NodeDirectory {
  const live = (name: string): LiveNode | undefined => {
    const services = nodes[name];
    return services === undefined
      ? undefined
      : {
          name,
          services,
          openStream: () => {
            throw new Error('not here');
          },
        };
  };
  return { live, isRegistered: (name) => name in nodes || offline.includes(name) };
}

t.test('resolveTenant: the default service is the first; each failure has its code', async (t) => {
  const dir = directory(
    {
      alpha: [
        { name: 'web', kind: 'http' },
        { name: 'ollama', kind: 'ollama', hostHeader: 'localhost:11434' },
      ],
      bare: [],
    },
    ['beta'],
  );
  const route = (host: string) => routeHost(host, 'proxima.test');
  t.equal(resolveTenant(route('alpha.proxima.test'), dir, 'alpha.proxima.test').service.name, 'web');
  t.equal(resolveTenant(route('ollama--alpha.proxima.test'), dir, undefined).service.hostHeader, 'localhost:11434');
  t.throws(() => resolveTenant(route('gamma.proxima.test'), dir, 'gamma.proxima.test'), { code: 'PRX_ERR_UNKNOWN_HOST' });
  t.throws(() => resolveTenant(route('a.b.proxima.test'), dir, 'a.b.proxima.test'), { code: 'PRX_ERR_UNKNOWN_HOST' });
  t.throws(() => resolveTenant(route('beta.proxima.test'), dir, undefined), { code: 'PRX_ERR_NODE_OFFLINE' });
  t.throws(() => resolveTenant(route('docs--alpha.proxima.test'), dir, undefined), { code: 'PRX_ERR_SERVICE_UNKNOWN' });
  t.throws(() => resolveTenant(route('bare.proxima.test'), dir, undefined), { code: 'PRX_ERR_SERVICE_UNKNOWN' });
  const tenant = resolveTenant(route('alpha.proxima.test'), dir, undefined);
  t.ok(sameTenant(route('web--alpha.proxima.test'), tenant), 'the default service by its name is the same tenant');
  t.notOk(sameTenant(route('ollama--alpha.proxima.test'), tenant), 'another service of the same node is not');
  t.notOk(sameTenant(route('proxima.test'), tenant), 'the API is not');
});
