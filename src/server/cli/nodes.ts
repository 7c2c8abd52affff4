/**
 * `proxima-server nodes add|list|rotate|revoke`: the registry from the command line. It works whether
 * the server runs or not: both go through the store's lock (or PostgreSQL's transactions, when
 * server.yaml has store.postgres), and a running server notices the change within a second (a
 * revoked or rotated node's session is closed then). `list` tells online from
 * offline by the running server's presence file (presence.json): a node is online while the server
 * holding it renews its lease there and its process runs; with store.postgres, by the instances'
 * leases and the nodes' rows in PostgreSQL, with the instance holding each node.
 */
import type { Argv } from 'yargs';
import { type CliCommand, type CliOutput, ExitCode, formatTable } from '../../cli/frame.js';
import { ErrorCodes, ProximaError } from '../../errors.js';
import { loadServerConfig } from '../config.js';
import { readPresence } from '../presence/json-presence-store.js';
import { leaseLiveAt, type NodeStatus, nodeStatuses } from '../presence/node-status.js';
import type { PresenceSnapshot } from '../presence/presence-store.js';
import { PublicUrls } from '../public-urls.js';
import { openRegistry } from '../registry/open-registry.js';
import type { IssuedToken, Registry } from '../registry/registry.js';
import type { SharedStore } from '../storage/postgres/shared-store.js';
import { openShared } from './open-shared.js';

const ACTIONS = ['add', 'list', 'rotate', 'revoke'] as const;

interface NodesArgs {
  action: (typeof ACTIONS)[number];
  name?: string;
  config?: string;
  json: boolean;
}

/** Name problems are the caller's to fix: usage errors (exit 2), like bad arguments. */
const USAGE_CODES: ReadonlySet<string> = new Set([ErrorCodes.NAME_INVALID, ErrorCodes.NAME_RESERVED]);

export const nodesCommand: CliCommand<NodesArgs> = {
  command: 'nodes <action> [name]',
  describe: 'Manage the registered nodes: add NAME, list, rotate NAME, revoke NAME',
  builder: (argv: Argv) =>
    argv
      .positional('action', { choices: ACTIONS, describe: 'add and rotate print the new token, once' })
      .positional('name', { type: 'string', describe: 'the node name: a DNS label, e.g. my-gpu' })
      .option('config', { alias: 'c', type: 'string', requiresArg: true, describe: 'the server.yaml file (for dataDir)' })
      .option('json', { type: 'boolean', default: false, describe: 'print JSON, for scripts' })
      .example('$0 nodes add my-gpu', 'register my-gpu and print its token')
      .epilogue('Exit codes: 0 ok, 1 failure (unknown or taken name, store trouble), 2 bad name or usage.') as Argv<NodesArgs>,
  async run(args, out) {
    const { action, name } = args;
    if ((action === 'list') !== (name === undefined)) {
      throw new ProximaError(ErrorCodes.USAGE, action === 'list' ? 'nodes list takes no NAME' : `nodes ${action} needs a NAME`);
    }
    const config = loadServerConfig(args.config);
    const shared = await openShared(config);
    let registry: Registry;
    try {
      registry = await openRegistry({ dataDir: config.dataDir, watch: false, pollIntervalMs: 0, shared });
    } catch (err) {
      await shared?.close();
      throw err;
    }
    try {
      await perform(
        registry,
        args,
        out,
        config.dataDir,
        new PublicUrls({ template: config.http.publicUrl, domain: config.domain, port: config.http.listen.port }),
        shared,
      );
      return ExitCode.OK;
    } catch (err) {
      if (err instanceof ProximaError && USAGE_CODES.has(err.code)) throw new ProximaError(ErrorCodes.USAGE, err.message, { cause: err });
      throw err;
    } finally {
      await registry.close();
      await shared?.close();
    }
  },
};

async function perform(
  registry: Registry,
  { action, name, json }: NodesArgs,
  out: CliOutput,
  dataDir: string,
  urls: PublicUrls,
  shared: SharedStore | undefined,
): Promise<void> {
  const print = (value: unknown): void => void out.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  if (action === 'list' && shared !== undefined) {
    // Presence in PostgreSQL: online while its instance's lease is live, with the instance holding it.
    const { readSharedPresence } = await import('../presence/postgres-presence-read.js');
    const { snapshot, live } = await readSharedPresence(shared.store);
    const nodes = nodeStatuses(await registry.list(), snapshot, (l) => live.has(l.instance), { withInstance: true });
    if (json) print({ nodes });
    else
      out.stdout.write(
        table(nodes, true) +
          (live.size > 0 || nodes.length === 0 ? '' : 'no super node instance holds a live lease: every node is offline\n'),
      );
  } else if (action === 'list') {
    const presence = await readPresence(dataDir).catch((err: unknown): PresenceSnapshot => {
      out.stderr.write(`proxima-server: warning: ${(err as Error).message}; every node is shown offline\n`);
      return { leases: [], nodes: [] };
    });
    const live = leaseLiveAt(Date.now());
    const nodes = nodeStatuses(await registry.list(), presence ?? { leases: [], nodes: [] }, live);
    const running = presence?.leases.some(live) === true;
    if (json) print({ nodes });
    else
      out.stdout.write(
        table(nodes) + (running || nodes.length === 0 ? '' : 'no super node is running on this data folder: every node is offline\n'),
      );
  } else if (action === 'revoke') {
    await registry.revoke(name!);
    if (json) print({ name, revoked: true });
    else out.stdout.write(`node ${name} revoked: its token no longer works\n`);
  } else {
    const issued = action === 'add' ? await registry.add(name!) : await registry.rotate(name!);
    const url = urls.node(name!);
    if (json) print({ ...tokenAnswer(issued), url });
    else {
      const what = action === 'add' ? `node ${name} added` : `node ${name} has a new token; the old one no longer works`;
      out.stdout.write(`${what}. Its token, shown only this once (put it in the node's client.yaml):\n${issued.token}\n`);
      out.stdout.write(`Its default service will be at ${url}; the network's API is at ${urls.api()}\n`);
    }
  }
}

/** The same shape as the answer of POST /nodes. */
function tokenAnswer({ record, token }: IssuedToken): Record<string, string> {
  return { name: record.name, keyId: record.keyId, token, createdAt: record.createdAt };
}

function table(nodes: NodeStatus[], withInstance = false): string {
  if (nodes.length === 0) return 'no nodes registered\n';
  const rows = [
    ['NAME', 'STATE', 'SINCE', 'LAST SEEN', 'ADDRESS', 'VERSION', 'SERVICES', 'MODELS', ...(withInstance ? ['INSTANCE'] : [])],
    ...nodes.map((n) => [
      n.name,
      n.online ? 'online' : 'offline',
      n.connectedAt ?? '-',
      n.lastSeenAt ?? 'never',
      n.address ?? '-',
      n.clientVersion ?? '-',
      n.services.join(',') || '-',
      n.models.join(',') || '-',
      ...(withInstance ? [n.instance ?? '-'] : []),
    ]),
  ];
  return formatTable(rows);
}
