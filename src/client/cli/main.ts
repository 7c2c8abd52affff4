/**
 * `proxima-client`: the node's command line. Each command is a module of its own; add it to
 * `commands` below.
 */
import { type CliOutput, type CliProgram, runCli, runIfMain } from '../../cli/frame.js';
import { verifyCommand } from '../../cli/verify.js';
import { loadClientConfig } from '../config.js';
import { hashPasswordCommand, hashTokenCommand } from './hash.js';
import { registerCommand } from './register.js';
import { runCommand } from './run.js';
import { statusCommand } from './status.js';

const program: CliProgram = {
  name: 'proxima-client',
  commands: [
    runCommand,
    registerCommand,
    statusCommand,
    verifyCommand('client.yaml', loadClientConfig),
    hashPasswordCommand(),
    hashTokenCommand(),
  ],
};

/** Runs `proxima-client` with `argv` (the arguments after the program name); resolves to the exit code. */
export function main(argv: string[], out?: CliOutput): Promise<number> {
  return runCli(program, argv, out);
}

runIfMain(import.meta.url, main);
