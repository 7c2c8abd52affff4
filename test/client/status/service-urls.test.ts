import t from 'tap';
import { parseClientConfig } from '../../../src/client/config.js';
import { serviceUrls, urlLines } from '../../../src/client/status/service-urls.js';

const { services } = parseClientConfig({
  server: 'h:1',
  name: 'alpha',
  token: '0123456789abcdef0123456789abcdef',
  services: [
    { name: 'web', local: '127.0.0.1:3000' },
    { name: 'ollama', kind: 'ollama', local: '127.0.0.1:11434' },
    { name: 'docs', local: '127.0.0.1:3001', expose: 'protected', auth: { allow: ['10.0.0.0/8'] } },
  ],
});

t.test('a welcome with the API and the service template: each service its URLs, a network-only one the API', async (t) => {
  const welcome = {
    publicUrl: 'https://alpha.example.com',
    apiUrl: 'https://api.example.com',
    serviceUrlTemplate: 'https://{service}--alpha.example.com',
  };
  t.same(urlLines(welcome, services), [
    'service web (http, public): https://alpha.example.com and https://web--alpha.example.com',
    'service ollama (ollama, network): reachable only through the API at https://api.example.com',
    'service docs (http, protected): https://docs--alpha.example.com',
    "the network's API: https://api.example.com",
  ]);
});

t.test('an older super node (publicUrl only): the default service its URL, the others say so', async (t) => {
  const urls = serviceUrls({ publicUrl: 'http://alpha.localhost:8080' }, services);
  t.same(
    urls.map((u) => [u.urls, u.note]),
    [
      [['http://alpha.localhost:8080'], undefined],
      [[], "reachable only through the network's API"],
      [[], 'this super node does not say its URL'],
    ],
  );
  t.equal(urlLines({ publicUrl: 'http://alpha.localhost:8080' }, services).length, 3, 'no API line');
});
