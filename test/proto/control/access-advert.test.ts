import t from 'tap';
import { parseControlStreamMessage } from '../../../src/proto/control/messages.js';

const HASH = `scrypt$16384$8$1$${'A'.repeat(22)}$${'B'.repeat(43)}`;
const TOKEN_HASH = `sha256$${'c'.repeat(64)}`;
const advertise = (service: Record<string, unknown>) =>
  parseControlStreamMessage({ type: 'advertise', services: [{ name: 'web', kind: 'http', ...service }] });

t.test('expose and auth are read strictly; a node that states no exposure gets its kind default', async (t) => {
  t.match(advertise({}), { services: [{ expose: 'public' }] });
  t.match(parseControlStreamMessage({ type: 'advertise', services: [{ name: 'o', kind: 'ollama' }] }), {
    services: [{ expose: 'network' }],
  });
  const auth = { basic: [{ user: 'alice', passwordHash: HASH }], bearer: [TOKEN_HASH], allow: ['10.0.0.0/8'], deny: ['::1'] };
  t.same(advertise({ expose: 'protected', auth }), {
    type: 'advertise',
    services: [{ name: 'web', kind: 'http', expose: 'protected', auth }],
  });
});

t.test('a bad exposure or auth is PRX_ERR_MESSAGE_INVALID naming the field', async (t) => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ expose: 'private' }, /services\[0\]\.expose/],
    [{ expose: 'protected' }, /services\[0\]\.auth is required/],
    [{ expose: 'public', auth: { allow: ['10.0.0.0/8'] } }, /services\[0\]\.auth is only allowed/],
    [{ expose: 'network', auth: { allow: ['10.0.0.0/8'] } }, /services\[0\]\.auth is only allowed/],
    [{ expose: 'protected', auth: {} }, /services\[0\]\.auth must set/],
    [{ expose: 'protected', auth: [] }, /services\[0\]\.auth must be an object/],
    [{ expose: 'protected', auth: { basic: [{ user: 'a:b', passwordHash: HASH }] } }, /basic\[0\]\.user/],
    [{ expose: 'protected', auth: { basic: [{ user: 'alice', passwordHash: 'hunter2' }] } }, /basic\[0\]\.passwordHash/],
    [{ expose: 'protected', auth: { basic: [{ user: 'alice', passwordHash: HASH.replace('16384', '1048576') }] } }, /passwordHash/],
    [{ expose: 'protected', auth: { bearer: ['plain-token-0123456789'] } }, /bearer\[0\]/],
    [{ expose: 'protected', auth: { allow: ['10.0.0.0/33'] } }, /allow\[0\]/],
    [{ expose: 'protected', auth: { deny: ['x'.repeat(100)] } }, /deny\[0\]/],
    [{ expose: 'protected', auth: { deny: Array.from({ length: 257 }, () => '10.0.0.1') } }, /deny must be a list of 1 to 256/],
    [{ expose: 'protected', auth: { bearer: [] } }, /bearer must be a list/],
  ];
  for (const [service, message] of cases)
    t.throws(() => advertise(service), { code: 'PRX_ERR_MESSAGE_INVALID', message }, JSON.stringify(service).slice(0, 80));
});
