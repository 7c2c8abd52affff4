import { EventEmitter } from 'node:events';
import t from 'tap';
import { ClusterDirectory, type DirectoryNode } from '../../../src/server/cluster/cluster-directory.js';
import type { NodeSessions } from '../../../src/server/control/node-sessions.js';
import type { RemoteNode, RemotePresenceEvents } from '../../../src/server/presence/remote-presence.js';

/** This instance's sessions: a name is live while the test says so. */
class LocalNodes extends EventEmitter {
  readonly live_ = new Map<string, DirectoryNode>();
  live(name: string): DirectoryNode | undefined {
    return this.live_.get(name);
  }
  isRegistered(name: string): boolean {
    return name !== 'stranger';
  }
}

class Feed extends EventEmitter<RemotePresenceEvents> {
  nodes(): RemoteNode[] {
    return [];
  }
  get(): undefined {
    return undefined;
  }
  async close(): Promise<void> {}
}

const remoteNode = (name: string, instance = 'i-a', peer = '10.0.0.5:7400'): RemoteNode => ({
  name,
  instance,
  peer,
  connectedAt: new Date(0).toISOString(),
  services: [{ name: 'web', kind: 'http' }],
});

function setup() {
  const local = new LocalNodes();
  const feed = new Feed();
  const dialed: string[] = [];
  const links = {
    link: () => undefined,
    connect: (peer: string) => {
      dialed.push(peer);
      return Promise.reject(new Error('no link in this test'));
    },
  };
  const directory = new ClusterDirectory({ local: local as unknown as NodeSessions, remote: feed, links, logger: silentish });
  const events: string[] = [];
  for (const e of ['opened', 'advertised', 'draining', 'closed'] as const)
    directory.on(e, (n) => events.push(`${e} ${n.name}${(n as { remote?: boolean }).remote ? ' (remote)' : ''}`));
  return { local, feed, directory, events, dialed };
}

const silentish = { debug() {}, info() {}, warn() {}, error() {}, infoPlain() {}, child: () => silentish, level: 'silent' as const };

t.test('a remote node is live and announced; it is dialed at once; remove takes it away', async (t) => {
  const { feed, directory, events, dialed } = setup();
  feed.emit('put', remoteNode('alpha'));
  const live = directory.live('alpha') as DirectoryNode & { remote?: boolean };
  t.equal(live.remote, true);
  t.same(live.services, [{ name: 'web', kind: 'http' }]);
  t.same(dialed, ['10.0.0.5:7400'], 'the link is dialed before the first request');
  feed.emit('put', { ...remoteNode('alpha'), services: [] });
  t.equal(directory.live('alpha'), live, 'new adverts: the same node object, as a session readvertising');
  t.same(live.services, []);
  feed.emit('remove', 'alpha', 'other-instance');
  t.equal(directory.live('alpha'), live, 'a remove from another instance is not about this one');
  feed.emit('remove', 'alpha', 'i-a');
  t.equal(directory.live('alpha'), undefined);
  t.notOk(live.online, 'retired: pools stop using it');
  t.same(events, [
    'opened alpha (remote)',
    'advertised alpha (remote)',
    'advertised alpha (remote)',
    'draining alpha (remote)',
    'closed alpha (remote)',
  ]);
  t.equal(directory.isRegistered('stranger'), false, "registration stays the registry's word");
});

t.test('local wins; when the local session goes, the remote claim shows again', async (t) => {
  const { local, feed, directory, events } = setup();
  const mine = { name: 'alpha', services: [], online: true, openStream: () => t.fail('not here') as never };
  local.live_.set('alpha', mine);
  local.emit('advertised', mine);
  feed.emit('put', remoteNode('alpha'));
  t.equal(directory.live('alpha'), mine);
  local.live_.delete('alpha');
  local.emit('closed', mine);
  t.equal((directory.live('alpha') as { remote?: boolean }).remote, true);
  t.same(events, ['advertised alpha', 'closed alpha', 'opened alpha (remote)', 'advertised alpha (remote)']);
});

t.test('a node moving to another instance: the old one closes, the new one opens', async (t) => {
  const { feed, directory, events } = setup();
  feed.emit('put', remoteNode('alpha', 'i-a'));
  const first = directory.live('alpha');
  feed.emit('put', remoteNode('alpha', 'i-c', '10.0.0.7:7400'));
  t.not(directory.live('alpha'), first);
  t.same(events.slice(2), ['draining alpha (remote)', 'closed alpha (remote)', 'opened alpha (remote)', 'advertised alpha (remote)']);
});

t.test('an instance without a peer link cannot be reached: its nodes are not listed', async (t) => {
  const { feed, directory, events, dialed } = setup();
  feed.emit('put', remoteNode('alpha', 'i-a', ''));
  t.equal(directory.live('alpha'), undefined);
  t.same([events, dialed], [[], []]);
});

t.test('openStream with no link yet: dials, and a failure rejects with the request still unanswered', async (t) => {
  const { feed, directory } = setup();
  feed.emit('put', remoteNode('alpha'));
  const opening = directory.live('alpha')!.openStream('web', { address: '1.2.3.4', port: 5, tls: false });
  await t.rejects(opening.opened, /no link in this test/);
  t.ok(opening.stream.destroyed, 'its stand-in stream is destroyed');
  directory.close();
});
