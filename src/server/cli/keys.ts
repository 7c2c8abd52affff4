/**
 * `proxima-server keys add|list|set|revoke`: the API key store from the command line. Like `nodes`,
 * it works whether the server runs or not (both go through the store's lock, or PostgreSQL's
 * transactions when server.yaml has store.postgres), and a running server
 * takes the change within a second. The clear key is printed once, by `add`, and kept nowhere.
 */
import type { Argv } from 'yargs';
import { type CliCommand, type CliOutput, ExitCode, formatTable } from '../../cli/frame.js';
import { ErrorCodes, ProximaError } from '../../errors.js';
import { loadServerConfig } from '../config.js';
import { JsonKeyStore } from '../keys/json-key-store.js';
import { checkKeyPatch, checkNotConfigured, type KeyPatch, type KeyRecord, makeKey, shownKey } from '../keys/key-record.js';
import type { KeyStore } from '../keys/key-store.js';
import { openShared } from './open-shared.js';

const ACTIONS = ['add', 'list', 'set', 'revoke'] as const;
const CLEARABLE = ['rpm', 'tpm', 'budget', 'models', 'nodes'] as const;

interface KeysArgs {
  action: (typeof ACTIONS)[number];
  ref?: string;
  config?: string;
  json: boolean;
  name?: string;
  rpm?: number;
  tpm?: number;
  budget?: number;
  per?: string;
  models?: string;
  nodes?: string;
  clear?: string[];
}

/** A bad value is the caller's to fix: a usage error (exit 2), like bad arguments. */
const USAGE_CODES: ReadonlySet<string> = new Set([ErrorCodes.HTTP_BAD_REQUEST]);

export const keysCommand: CliCommand<KeysArgs> = {
  command: 'keys <action> [ref]',
  describe: 'Manage API keys: add NAME, list, set NAME|ID, revoke NAME|ID',
  builder: (argv: Argv) =>
    argv
      .positional('action', { choices: ACTIONS, describe: 'add prints the new key, once' })
      .positional('ref', { type: 'string', describe: "a key's name (add: the new key's name) or its id (key-...)" })
      .option('config', { alias: 'c', type: 'string', requiresArg: true, describe: 'the server.yaml file (for dataDir)' })
      .option('rpm', { type: 'number', requiresArg: true, describe: 'requests per minute' })
      .option('tpm', { type: 'number', requiresArg: true, describe: 'prompt + completion tokens per minute' })
      .option('budget', { type: 'number', requiresArg: true, describe: 'credits per --per (day or month, UTC)' })
      .option('per', { type: 'string', choices: ['day', 'month'], requiresArg: true, describe: 'the period of --budget' })
      .option('models', { type: 'string', requiresArg: true, describe: 'the only models the key may use, comma-separated' })
      .option('nodes', { type: 'string', requiresArg: true, describe: "the nodes the key's owner runs, comma-separated" })
      .option('name', { type: 'string', requiresArg: true, describe: 'set: a new name' })
      .option('clear', { type: 'array', string: true, choices: CLEARABLE, describe: 'set: remove these limits' })
      .option('json', { type: 'boolean', default: false, describe: 'print JSON, for scripts' })
      .example('$0 keys add alice --tpm 20000 --budget 50 --per day --models llama3.2', 'a key for alice, printed once')
      .example('$0 keys set alice --clear budget', "lift alice's budget")
      .epilogue('Exit codes: 0 ok, 1 failure (unknown key, taken name, store trouble), 2 bad value or usage.') as Argv<KeysArgs>,
  async run(args, out) {
    const { action, ref } = args;
    if ((action === 'list') !== (ref === undefined)) {
      throw new ProximaError(ErrorCodes.USAGE, action === 'list' ? 'keys list takes no NAME' : `keys ${action} needs a NAME or an id`);
    }
    const config = loadServerConfig(args.config);
    const configuredIds = config.api.keys.map((k) => k.id);
    const shared = await openShared(config);
    let store: KeyStore;
    try {
      store = shared
        ? await (await import('../keys/postgres-key-store.js')).PostgresKeyStore.open({ shared })
        : await JsonKeyStore.open({ dataDir: config.dataDir, watch: false, pollIntervalMs: 0 });
    } catch (err) {
      await shared?.close();
      throw err;
    }
    try {
      await perform(store, args, configuredIds, out);
      return ExitCode.OK;
    } catch (err) {
      if (err instanceof ProximaError && USAGE_CODES.has(err.code)) {
        throw new ProximaError(ErrorCodes.USAGE, err.message, { cause: err });
      }
      throw err;
    } finally {
      await store.close();
      await shared?.close();
    }
  },
};

/** The flags as the patch the admin API takes, checked by the same code. */
function patchOf(args: KeysArgs): KeyPatch {
  const raw: Record<string, unknown> = {};
  const list = (text: string): string[] =>
    text
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  if (args.name !== undefined) raw.name = args.name;
  if (args.rpm !== undefined) raw.requestsPerMinute = args.rpm;
  if (args.tpm !== undefined) raw.tokensPerMinute = args.tpm;
  if ((args.budget === undefined) !== (args.per === undefined)) throw new ProximaError(ErrorCodes.USAGE, '--budget and --per go together');
  if (args.budget !== undefined) raw.budget = { credits: args.budget, per: args.per };
  if (args.models !== undefined) raw.models = list(args.models);
  if (args.nodes !== undefined) raw.nodes = list(args.nodes);
  const fields = { rpm: 'requestsPerMinute', tpm: 'tokensPerMinute', budget: 'budget', models: 'models', nodes: 'nodes' } as const;
  for (const what of args.clear ?? []) {
    const field = fields[what as keyof typeof fields];
    if (raw[field] !== undefined) throw new ProximaError(ErrorCodes.USAGE, `--clear ${what} and a new ${what} at once`);
    raw[field] = field === 'nodes' ? [] : null;
  }
  try {
    return checkKeyPatch(raw);
  } catch (err) {
    // The checks name the admin API's fields; a command line user typed flags.
    const message = (err as Error).message.replace(/^(\w+)(\.\w+)?:/, (field) => FLAG_OF[field.slice(0, -1)] ?? field);
    throw new ProximaError(ErrorCodes.USAGE, message, { cause: err });
  }
}

const FLAG_OF: Record<string, string> = {
  requestsPerMinute: '--rpm:',
  tokensPerMinute: '--tpm:',
  'budget.credits': '--budget:',
  'budget.per': '--per:',
  models: '--models:',
  nodes: '--nodes:',
  name: '--name:',
};

async function perform(store: KeyStore, args: KeysArgs, configuredIds: readonly string[], out: CliOutput): Promise<void> {
  const print = (value: unknown): void => void out.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  const { action, ref, json } = args;
  if (action === 'list') {
    const keys = await store.list();
    if (json) print({ keys: keys.map(shownKey) });
    else out.stdout.write(table(keys));
  } else if (action === 'add') {
    if (args.name !== undefined || args.clear !== undefined)
      throw new ProximaError(ErrorCodes.USAGE, 'keys add takes no --name or --clear');
    const patch = patchOf({ ...args, name: ref });
    checkNotConfigured(ref!, configuredIds);
    const { record, key } = makeKey(ref!, patch, new Date());
    await store.add(record);
    if (json) print({ ...shownKey(record), key });
    else out.stdout.write(`API key ${record.name} added (id ${record.id}). The key, shown only this once:\n${key}\n`);
  } else if (action === 'set') {
    const patch = patchOf(args);
    if (Object.keys(patch).length === 0)
      throw new ProximaError(ErrorCodes.USAGE, 'keys set needs a change (--rpm, --tpm, --budget, --models, --nodes, --name or --clear)');
    if (patch.name !== undefined) checkNotConfigured(patch.name, configuredIds);
    const record = await store.update(ref!, patch);
    if (json) print(shownKey(record));
    else out.stdout.write(`API key ${record.name} (id ${record.id}) changed\n`);
  } else {
    const record = await store.revoke(ref!, new Date());
    if (json) print(shownKey(record));
    else out.stdout.write(`API key ${record.name} (id ${record.id}) revoked: it no longer works\n`);
  }
}

function table(keys: KeyRecord[]): string {
  if (keys.length === 0) return 'no API keys\n';
  const limit = (n: number | null): string => (n === null ? '-' : String(n));
  const rows = [
    ['ID', 'NAME', 'RPM', 'TPM', 'BUDGET', 'MODELS', 'NODES', 'CREATED', 'REVOKED'],
    ...keys.map((k) => {
      const s = shownKey(k);
      return [
        s.id,
        s.name,
        limit(s.requestsPerMinute),
        limit(s.tokensPerMinute),
        s.budget === null ? '-' : `${s.budget.credits}/${s.budget.per}`,
        s.models?.join(',') ?? 'all',
        s.nodes.join(',') || '-',
        s.createdAt,
        s.revokedAt ?? '-',
      ];
    }),
  ];
  return formatTable(rows);
}
