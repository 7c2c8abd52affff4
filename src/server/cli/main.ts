/**
 * `proxima-server`: the super node's command line. Each command is a module of its own; add it to
 * `commands` below.
 */
import { type CliOutput, type CliProgram, runCli, runIfMain } from '../../cli/frame.js';
import { verifyCommand } from '../../cli/verify.js';
import { loadServerConfig } from '../config.js';
import { keysCommand } from './keys.js';
import { nodesCommand } from './nodes.js';
import { rewardsCommand } from './rewards.js';
import { runCommand } from './run.js';
import { storeCommand } from './store.js';
import { usageCommand } from './usage.js';

const program: CliProgram = {
  name: 'proxima-server',
  commands: [
    runCommand,
    nodesCommand,
    keysCommand,
    rewardsCommand,
    usageCommand,
    storeCommand,
    verifyCommand('server.yaml', loadServerConfig),
  ],
};

/** Runs `proxima-server` with `argv` (the arguments after the program name); resolves to the exit code. */
export function main(argv: string[], out?: CliOutput): Promise<number> {
  return runCli(program, argv, out);
}

runIfMain(import.meta.url, main);
