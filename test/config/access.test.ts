import t from 'tap';
import { AddressList, LOOPBACK_RANGES, trustedProxies } from '../../src/config/access.js';

t.test('an address list matches IPv4, IPv6 and IPv4-mapped IPv6 addresses against its ranges', async (t) => {
  const list = new AddressList(['10.0.0.0/8', '192.168.1.13', '2001:db8::/32']);
  const cases: [string, boolean][] = [
    ['10.1.2.3', true],
    ['11.0.0.1', false],
    ['192.168.1.13', true],
    ['192.168.1.14', false],
    ['::ffff:10.9.9.9', true],
    ['2001:db8:1::5', true],
    ['2001:db9::1', false],
    ['not an address', false],
    ['', false],
  ];
  for (const [address, has] of cases) t.equal(list.has(address), has, address);
  t.throws(() => new AddressList(['10.0.0.0/40']), { code: 'PRX_ERR_MESSAGE_INVALID' });
});

t.test('trustProxy: false trusts nobody, true loopback only, a list what it names', async (t) => {
  t.equal(trustedProxies(false).has('127.0.0.1'), false);
  const loopback = trustedProxies(true);
  t.same(loopback.ranges, LOOPBACK_RANGES);
  for (const [address, has] of [
    ['127.0.0.1', true],
    ['127.8.0.1', true],
    ['::1', true],
    ['::ffff:127.0.0.1', true],
    ['10.0.0.1', false],
    ['::2', false],
  ] as const)
    t.equal(loopback.has(address), has, `true: ${address}`);
  const listed = trustedProxies(['10.0.0.5', 'fd00::/8']);
  t.equal(listed.has('10.0.0.5'), true);
  t.equal(listed.has('127.0.0.1'), false, 'a list replaces loopback');
  t.equal(listed.has('fd12::1'), true);
});
