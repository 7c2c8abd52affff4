/**
 * `proxima-client register --server URL --name NAME`: asks a super node for a token over its HTTP
 * API (POST /nodes, see server/nodes-api.ts), for servers in open registration mode or with the
 * admin token. The token is printed, or written to a file (mode 0600) fit for `tokenFile:`.
 */
import fs from 'node:fs';
import type { Argv } from 'yargs';
import { type CliCommand, ExitCode } from '../../cli/frame.js';
import { ErrorCodes, ProximaError } from '../../errors.js';
import { undici } from '../../http/undici-lazy.js';
import { checkNodeName } from '../../proto/names.js';

interface RegisterArgs {
  server: string;
  name: string;
  adminToken?: string;
  write?: string;
  json: boolean;
  timeoutMs: number;
}

/** What a successful registration answers. */
interface Registered {
  name: string;
  keyId: string;
  token: string;
  createdAt: string;
}

/** An answer is a small JSON object; anything bigger is not from a super node. */
const MAX_ANSWER_BYTES = 64 * 1024;

export const registerCommand: CliCommand<RegisterArgs> = {
  command: 'register',
  describe: 'Register a node name with a super node over HTTP and get its token',
  // yargs sets `adminToken` and `timeoutMs` alongside the dashed keys; its types know only the latter.
  builder: (argv: Argv) =>
    argv
      .option('server', {
        type: 'string',
        demandOption: true,
        requiresArg: true,
        describe: "the super node's API URL, e.g. https://proxima.example.com",
      })
      .option('name', { type: 'string', demandOption: true, requiresArg: true, describe: 'the node name: a DNS label, e.g. my-gpu' })
      .option('admin-token', {
        type: 'string',
        requiresArg: true,
        describe: "the super node's admin token (needed unless registration is open)",
      })
      .option('write', { type: 'string', requiresArg: true, describe: 'write the token to this file (mode 0600) instead of printing it' })
      .option('json', { type: 'boolean', default: false, describe: 'print JSON, for scripts' })
      .option('timeout-ms', { type: 'number', default: 10_000, describe: 'give up after this long' })
      .epilogue(
        'Exit codes: 0 registered; 1 unreachable, rate limited or server trouble; 2 bad or taken name, bad URL; 3 registration refused (admin token missing or wrong).',
      ) as unknown as Argv<RegisterArgs>,
  async run(args, out) {
    checkNodeNameAsUsage(args.name);
    const url = nodesUrl(args.server);
    const { status, body } = await post(url, args);
    if (status !== 201) {
      const reason = errorText(body) ?? `HTTP ${status}`;
      out.stderr.write(`proxima-client: ${url} refused to register "${args.name}" (${status}): ${reason}\n`);
      return exitCodeForStatus(status);
    }
    const registered = parseRegistered(body, url);
    if (args.write !== undefined) writeTokenFile(args.write, registered.token);
    const shown = args.write === undefined ? registered : { ...withoutToken(registered), tokenFile: args.write };
    if (args.json) out.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
    else if (args.write !== undefined) out.stdout.write(`node ${registered.name} registered; its token is in ${args.write}\n`);
    else
      out.stdout.write(
        `node ${registered.name} registered. Its token, shown only this once (put it in client.yaml):\n${registered.token}\n`,
      );
    return ExitCode.OK;
  },
};

function checkNodeNameAsUsage(name: string): void {
  try {
    checkNodeName(name);
  } catch (err) {
    throw new ProximaError(ErrorCodes.USAGE, (err as Error).message, { cause: err });
  }
}

/** `<server>/nodes`, keeping a path prefix the URL may have (a super node behind a sub-path). */
function nodesUrl(server: string): string {
  let base: URL;
  try {
    base = new URL(server);
  } catch (err) {
    throw new ProximaError(ErrorCodes.USAGE, `--server must be a URL such as https://proxima.example.com, got "${server}"`, { cause: err });
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:')
    throw new ProximaError(ErrorCodes.USAGE, '--server must be an http or https URL');
  base.pathname = `${base.pathname.replace(/\/+$/, '')}/nodes`;
  base.search = '';
  return base.toString();
}

async function post(url: string, args: RegisterArgs): Promise<{ status: number; body: string }> {
  const { Agent, request } = undici();
  const agent = new Agent({ connect: { timeout: args.timeoutMs } });
  try {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (args.adminToken !== undefined) headers.authorization = `Bearer ${args.adminToken}`;
    const res = await request(url, {
      method: 'POST',
      headers,
      body: JSON.stringify({ name: args.name }),
      dispatcher: agent,
      headersTimeout: args.timeoutMs,
      bodyTimeout: args.timeoutMs,
    });
    let body = '';
    for await (const chunk of res.body) {
      body += (chunk as Buffer).toString('utf8');
      if (body.length > MAX_ANSWER_BYTES) throw new Error(`the answer is larger than ${MAX_ANSWER_BYTES} bytes`);
    }
    return { status: res.statusCode, body };
  } catch (err) {
    throw new ProximaError(ErrorCodes.CONNECT_FAILED, `cannot register with ${url}: ${(err as Error).message}`, { cause: err });
  } finally {
    await agent.close();
  }
}

/** 400 and 409: change the name; 401 and 403: credentials; anything else may work later. */
function exitCodeForStatus(status: number): number {
  if (status === 400 || status === 409) return ExitCode.USAGE;
  if (status === 401 || status === 403) return ExitCode.AUTH_REFUSED;
  return ExitCode.FAILURE;
}

/** The message of a super node's `{"error":{"code","message"}}`, if the body is one. */
function errorText(body: string): string | undefined {
  try {
    const error = (JSON.parse(body) as { error?: { code?: unknown; message?: unknown } }).error;
    if (typeof error?.message === 'string') return typeof error.code === 'string' ? `${error.message} [${error.code}]` : error.message;
  } catch {
    // not JSON: no message to show
  }
  return undefined;
}

function parseRegistered(body: string, url: string): Registered {
  try {
    const value = JSON.parse(body) as Partial<Registered>;
    if (typeof value.token === 'string' && typeof value.name === 'string') return value as Registered;
  } catch {
    // reported below
  }
  throw new ProximaError(ErrorCodes.HTTP_BAD_RESPONSE, `${url} answered 201 without a token: is it a Proxima super node?`);
}

function withoutToken({ name, keyId, createdAt }: Registered): Omit<Registered, 'token'> {
  return { name, keyId, createdAt };
}

/** Writes the token alone on a line, readable by its owner only (even if the file existed before). */
function writeTokenFile(file: string, token: string): void {
  try {
    const fd = fs.openSync(file, 'w', 0o600);
    try {
      fs.fchmodSync(fd, 0o600);
      fs.writeFileSync(fd, `${token}\n`);
    } finally {
      fs.closeSync(fd);
    }
  } catch (err) {
    throw new ProximaError(ErrorCodes.STORE_IO, `cannot write the token to ${file}: ${(err as Error).message}`, { cause: err });
  }
}
