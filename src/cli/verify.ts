/**
 * `verify -c FILE`: checks a config file and exits, so a typo is found before a restart, not after.
 * Both programs use it with their own loader.
 */
import type { Argv } from 'yargs';
import { type CliCommand, ExitCode } from './frame.js';

/** The verify command for config files of kind `kind` (`server.yaml`), checked by `load`. */
export function verifyCommand(kind: string, load: (file: string) => unknown): CliCommand<{ config: string }> {
  return {
    command: 'verify',
    describe: `Check a ${kind} file and exit: 0 if valid, 2 with every problem listed`,
    builder: (argv: Argv) =>
      argv.option('config', { alias: 'c', type: 'string', demandOption: true, requiresArg: true, describe: `the ${kind} file to check` }),
    async run({ config }, out) {
      load(config);
      out.stdout.write(`${config} is valid\n`);
      return ExitCode.OK;
    },
  };
}
