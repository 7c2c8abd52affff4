/** The package's version, read once from package.json (it sits two folders above dist/src/). */
import fs from 'node:fs';

function readVersion(): string {
  const text = fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

/** This build's version, e.g. `0.1.0`: shown by `--version` and sent in the handshake. */
export const PACKAGE_VERSION: string = readVersion();
