/**
 * `proxima-client hash-password` and `proxima-client hash-token`: print the hash to put in a
 * service's `auth` (client.yaml keeps hashes only). The secret is read from standard input, or
 * asked for on the terminal without echo; never from the command line, where `ps` and the shell's
 * history would show it.
 */
import type { Argv } from 'yargs';
import { type CliCommand, ExitCode } from '../../cli/frame.js';
import { ErrorCodes, ProximaError } from '../../errors.js';
import { hashPassword, hashToken } from '../../proto/service-access.js';

/** A secret longer than this is not typed or pasted: refused rather than read without end. */
const MAX_SECRET_BYTES = 4096;
/** Tokens are hashed with SHA-256, not a slow hash: only long random ones are safe that way. */
const MIN_TOKEN_LENGTH = 16;

/** Where the secret comes from; process.stdin by default (tests pass their own). */
export interface SecretInput {
  readonly isTTY?: boolean;
  setRawMode?(mode: boolean): unknown;
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  on(event: 'end' | 'error', listener: (err?: Error) => void): unknown;
  off(event: string, listener: (...args: never[]) => void): unknown;
  resume(): unknown;
  pause(): unknown;
}

function usage(message: string): ProximaError {
  return new ProximaError(ErrorCodes.USAGE, message);
}

/** Reads all of a piped standard input; one trailing newline is not part of the secret. */
function readPiped(input: SecretInput): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    const onData = (chunk: Buffer): void => {
      bytes += chunk.length;
      if (bytes > MAX_SECRET_BYTES) finish(usage(`the secret on standard input is longer than ${MAX_SECRET_BYTES} bytes`));
      else chunks.push(chunk);
    };
    const finish = (err?: Error): void => {
      input.off('data', onData);
      input.off('end', finish);
      input.off('error', finish);
      input.pause();
      if (err !== undefined) reject(err);
      else
        resolve(
          Buffer.concat(chunks)
            .toString('utf8')
            .replace(/\r?\n$/, ''),
        );
    };
    input.on('data', onData);
    input.on('end', finish);
    input.on('error', finish);
    input.resume();
  });
}

/** Asks on the terminal, echoing nothing; Ctrl-C or Ctrl-D gives up. */
function prompt(input: SecretInput, ask: string, stderr: { write(text: string): unknown }): Promise<string> {
  stderr.write(ask);
  return new Promise((resolve, reject) => {
    let typed = '';
    const onData = (chunk: Buffer): void => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return finish();
        if (ch === '\u0003' || ch === '\u0004') return finish(usage('cancelled'));
        if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1);
        else typed += ch;
        if (typed.length > MAX_SECRET_BYTES) return finish(usage(`longer than ${MAX_SECRET_BYTES} characters`));
      }
    };
    const finish = (err?: Error): void => {
      input.off('data', onData);
      input.setRawMode?.(false);
      input.pause();
      stderr.write('\n');
      if (err !== undefined) reject(err);
      else resolve(typed);
    };
    input.setRawMode?.(true);
    input.on('data', onData);
    input.resume();
  });
}

/** The secret from `input`: asked twice on a terminal (they must match), else read whole. */
async function readSecret(input: SecretInput, what: string, stderr: { write(text: string): unknown }): Promise<string> {
  let secret: string;
  if (input.isTTY === true) {
    secret = await prompt(input, `${what}: `, stderr);
    if ((await prompt(input, `${what} again: `, stderr)) !== secret) throw usage(`the two ${what}s differ`);
  } else secret = await readPiped(input);
  if (secret.length === 0) throw usage(`no ${what} given: type it when asked, or pipe it to standard input`);
  return secret;
}

function hashCommand(
  command: string,
  what: string,
  describe: string,
  hash: (secret: string) => Promise<string>,
  input?: SecretInput,
): CliCommand<object> {
  return {
    command,
    describe,
    builder: (argv: Argv) =>
      argv.epilogue(
        `Reads the ${what} from standard input (one trailing newline is dropped), or asks for it twice on a terminal. Prints the hash for client.yaml. Exit codes: 0 printed; 2 no ${what}, or a bad one.`,
      ),
    async run(_args, out) {
      const secret = await readSecret(input ?? (process.stdin as unknown as SecretInput), what, out.stderr);
      out.stdout.write(`${await hash(secret)}\n`);
      return ExitCode.OK;
    },
  };
}

/** `hash-password`: an scrypt hash for `auth.basic[].passwordHash`. */
export function hashPasswordCommand(input?: SecretInput): CliCommand<object> {
  return hashCommand(
    'hash-password',
    'password',
    'Print the scrypt hash of a password, for a Basic user in auth.basic',
    (p) => hashPassword(p),
    input,
  );
}

/** `hash-token`: a SHA-256 hash for `auth.bearer`; the token must be long (16 characters or more). */
export function hashTokenCommand(input?: SecretInput): CliCommand<object> {
  return hashCommand(
    'hash-token',
    'token',
    'Print the SHA-256 hash of a bearer token (16 characters or more), for auth.bearer',
    async (token) => {
      if (token.length < MIN_TOKEN_LENGTH)
        throw usage(`a bearer token must be at least ${MIN_TOKEN_LENGTH} characters (a long random one)`);
      return hashToken(token);
    },
    input,
  );
}
