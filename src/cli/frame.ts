/**
 * The frame both command-line programs share: yargs set up strictly, `--help` and `--version`
 * everywhere, and errors turned into exit codes that scripts can rely on. Each command is a
 * {@link CliCommand} in a module of its own; a program is its name and its list of commands.
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Argv } from 'yargs';
import { ErrorCodes, ProximaError } from '../errors.js';
import { PACKAGE_VERSION } from '../version.js';
import { wrapText } from './wrap.js';

/** Exit codes, documented in the README. */
export const ExitCode = {
  OK: 0,
  /** Something failed at run time: a socket, a file, a bug. */
  FAILURE: 1,
  /** Bad arguments or an invalid config file; nothing was started. */
  USAGE: 2,
  /** The super node refused the node's credentials; retrying will not help. */
  AUTH_REFUSED: 3,
} as const;

/** Where a command writes; the process's streams unless a test passes its own. */
export interface CliOutput {
  /** `columns`: the terminal's width, when the stream is a terminal. */
  stdout: { write(text: string): unknown; readonly columns?: number };
  stderr: { write(text: string): unknown; readonly columns?: number };
}

/** Help is wrapped at the terminal's width, at most this wide; at the default when stdout is not a terminal. */
const MAX_HELP_WIDTH = 120;
const DEFAULT_HELP_WIDTH = 100;

/** The width help is wrapped at (wrap.ts: between words, never inside one). */
export function helpWidth(stream: { readonly columns?: number }): number {
  const columns = stream.columns;
  return columns !== undefined && columns > 0 ? Math.min(columns, MAX_HELP_WIDTH) : DEFAULT_HELP_WIDTH;
}

/** One command of a program. */
export interface CliCommand<A = unknown> {
  /** A yargs command string: `verify`, `$0` for the default, `nodes <action> [name]`. */
  readonly command: string;
  readonly describe: string;
  /** Declares the command's options and positionals. */
  builder(argv: Argv): Argv<A>;
  /**
   * Does the work and returns the exit code. A thrown error becomes one too (see
   * {@link exitCodeFor}) after its message is written to stderr.
   */
  run(args: A, out: CliOutput): Promise<number>;
  /**
   * The arguments of the invocation programs start with (`-c FILE`), read without yargs, or
   * undefined to let yargs parse `argv` (see {@link configArgs}).
   */
  quick?(argv: readonly string[]): A | undefined;
}

/** A command-line program: its name as users type it, and its commands. */
export interface CliProgram {
  readonly name: string;
  // Each command has its own argument type; yargs' Argv is invariant in it, hence `any` here only.
  // biome-ignore lint/suspicious/noExplicitAny: see the line above
  readonly commands: readonly CliCommand<any>[];
}

const EXIT_CODES_HELP = 'Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error, 3 authentication refused.';

const PROCESS_OUTPUT: CliOutput = { stdout: process.stdout, stderr: process.stderr };

/** The exit code an error maps to. */
export function exitCodeFor(err: unknown): number {
  if (!(err instanceof ProximaError)) return ExitCode.FAILURE;
  if (err.code === ErrorCodes.CONFIG_INVALID || err.code === ErrorCodes.USAGE) return ExitCode.USAGE;
  if (err.code === ErrorCodes.AUTH_FAILED) return ExitCode.AUTH_REFUSED;
  return ExitCode.FAILURE;
}

/**
 * `{ config }` when `argv` is only `-c FILE`, `--config FILE` or `--config=FILE` (and FILE does not
 * look like an option), or is empty and `optional`; else undefined. A node or a super node started
 * this way never loads yargs: it costs a process about 9 MiB of resident memory for a parse of two
 * words (measured with VmRSS around `require('yargs')` and one parse).
 */
export function configArgs(argv: readonly string[], optional: boolean): { config?: string } | undefined {
  if (argv.length === 0) return optional ? {} : undefined;
  const [flag, file] = argv;
  if (argv.length === 1 && flag!.startsWith('--config=') && flag!.length > '--config='.length) return { config: flag!.slice(9) };
  if (argv.length !== 2 || (flag !== '-c' && flag !== '--config') || file === '' || file!.startsWith('-')) return undefined;
  return { config: file! };
}

/** Runs `program` on `argv` (the arguments after the script) and returns the exit code; never throws. */
export async function runCli(program: CliProgram, argv: readonly string[], out: CliOutput = PROCESS_OUTPUT): Promise<number> {
  const quick = program.commands.find((c) => c.command === '$0' && c.quick?.(argv) !== undefined);
  if (quick !== undefined) {
    try {
      return await quick.run(quick.quick!(argv), out);
    } catch (err) {
      return reportError(program, err, out);
    }
  }
  let code: number | undefined;
  // Loaded here, not at start: a program started with `-c FILE` alone never needs it (configArgs).
  const { default: yargs } = await import('yargs');
  const parser = yargs([...argv])
    .scriptName(program.name)
    .usage(`Usage: ${program.name} <command> [options]`)
    .epilogue(EXIT_CODES_HELP)
    .strict()
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .version(PACKAGE_VERSION)
    .wrap(null)
    .exitProcess(false)
    .fail((message, err) => {
      // Without this throw yargs would go on and run the handler after a usage error.
      if (err !== undefined && err.name !== 'YError') throw err;
      throw new ProximaError(ErrorCodes.USAGE, message ?? err?.message, { cause: err });
    });
  for (const command of program.commands) {
    parser.command(
      command.command,
      command.describe,
      (y) => command.builder(y),
      async (args) => {
        code = await command.run(args, out);
      },
    );
  }
  try {
    let shown = '';
    const args = await parser.parseAsync([...argv], {}, (_err, _args, output) => {
      shown = output;
    });
    if (code !== undefined) return code;
    if (args.help === true || args.version === true) {
      out.stdout.write(wrapText(shown, helpWidth(out.stdout)) + '\n');
      return ExitCode.OK;
    }
    out.stderr.write(`${wrapText(await parser.getHelp(), helpWidth(out.stderr))}\n\n${program.name}: a command is required\n`);
    return ExitCode.USAGE;
  } catch (err) {
    return reportError(program, err, out);
  }
}

/** Writes what went wrong to stderr; the exit code it maps to. */
function reportError(program: CliProgram, err: unknown, out: CliOutput): number {
  const usage = err instanceof ProximaError && err.code === ErrorCodes.USAGE;
  const message = err instanceof Error ? err.message : String(err);
  const hint = usage ? `\nRun "${program.name} --help" for usage.` : '';
  out.stderr.write(`${program.name}: ${message}${hint}\n`);
  return exitCodeFor(err);
}

/** Rows as text: each column as wide as its widest cell, two spaces apart; the first row is the heading. */
export function formatTable(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return (
    rows
      .map((r) =>
        r
          .map((cell, i) => cell.padEnd(widths[i]!))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

/** Runs `main` with the process's arguments when `moduleUrl` is the script node was asked to run. */
export function runIfMain(moduleUrl: string, main: (argv: string[]) => Promise<number>): void {
  const script = process.argv[1];
  if (script === undefined) return;
  let real: string;
  try {
    real = fs.realpathSync(script);
  } catch {
    return;
  }
  if (real !== fileURLToPath(moduleUrl)) return;
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
