import t from 'tap';
import { parseWelcome } from '../../../src/proto/control/messages.js';

const BASE = { type: 'welcome', name: 'alpha', publicUrl: 'https://alpha.example.com', heartbeatIntervalMs: 15_000 };

t.test('welcome: apiUrl and serviceUrlTemplate are optional, so older super nodes still log nodes in', async (t) => {
  t.same(parseWelcome(BASE), BASE, 'an older welcome, without them');
  const full = { ...BASE, apiUrl: 'https://api.example.com', serviceUrlTemplate: 'https://{service}--alpha.example.com' };
  t.same(parseWelcome(full), full);
  t.same(parseWelcome({ ...BASE, newerField: 1 }), BASE, 'unknown fields are ignored');
});

t.test('welcome: a present URL field must be an http(s) URL; the template must hold {service}', async (t) => {
  for (const bad of [
    { apiUrl: 'ftp://api.example.com' },
    { apiUrl: 42 },
    { apiUrl: 'https://api example.com' },
    { serviceUrlTemplate: 'https://web--alpha.example.com' },
    { serviceUrlTemplate: 'x'.repeat(600) },
  ]) {
    t.throws(
      () => parseWelcome({ ...BASE, ...bad }),
      { code: 'PRX_ERR_MESSAGE_INVALID', message: new RegExp(Object.keys(bad)[0]!) },
      JSON.stringify(bad),
    );
  }
});
