import t from 'tap';
import { parseServerConfig } from '../../src/server/config.js';
import { PublicUrls, publicUrlProblem } from '../../src/server/public-urls.js';

t.test('without a template: http://<host>[:port] on the listener port, port 80 left out', async (t) => {
  const urls = new PublicUrls({ domain: 'example.com', port: 8080 });
  t.equal(urls.node('alpha'), 'http://alpha.example.com:8080');
  t.equal(urls.service('alpha', 'web'), 'http://web--alpha.example.com:8080');
  t.equal(urls.api(), 'http://api.example.com:8080');
  t.equal(urls.serviceTemplate('alpha'), 'http://{service}--alpha.example.com:8080');
  t.equal(new PublicUrls({ domain: 'example.com', port: 80 }).node('alpha'), 'http://alpha.example.com');
});

t.test('a template: {host}, {node} and {domain} filled in, a trailing slash dropped', async (t) => {
  const https = new PublicUrls({ template: 'https://{host}/', domain: 'example.com', port: 8080 });
  t.equal(https.node('alpha'), 'https://alpha.example.com');
  t.equal(https.service('alpha', 'web'), 'https://web--alpha.example.com');
  t.equal(https.api(), 'https://api.example.com');
  t.equal(https.serviceTemplate('alpha'), 'https://{service}--alpha.example.com');
  const parts = new PublicUrls({ template: 'https://{node}.gpu.{domain}:8443', domain: 'example.com', port: 1 });
  t.equal(parts.node('alpha'), 'https://alpha.gpu.example.com:8443');
});

t.test('a bad template is refused at load, naming http.publicUrl', async (t) => {
  for (const [template, why] of [
    ['ftp://{host}', /http:\/\/ or https:\/\//],
    ['https://example.com', /\{host\} or \{node\}/],
    ['https://{host}/{service}', /unknown placeholder \{service\}/],
    ['https://{host}?a=1', /query/],
    ['https://{host}:99999', /not a URL/],
  ] as const) {
    t.match(publicUrlProblem(template), why, template);
    t.throws(() => parseServerConfig({ http: { publicUrl: template } }), {
      code: 'PRX_ERR_CONFIG_INVALID',
      problems: [{ path: 'http.publicUrl' }],
    });
  }
  t.equal(publicUrlProblem('https://{host}'), undefined);
  t.equal(parseServerConfig({}).http.publicUrl, undefined, 'no template by default');
});
