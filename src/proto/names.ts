/**
 * Node and service names become DNS labels in public hostnames: `<node>.<domain>` and
 * `<service>--<node>.<domain>`. A double hyphen is the separator, so no name may contain one.
 */
import { ErrorCodes, ProximaError } from '../errors.js';

/** The longest DNS label. */
export const MAX_LABEL_LENGTH = 63;

/** Names a node may not take: they are the super node's own hosts or invite confusion. */
export const RESERVED_NAMES: ReadonlySet<string> = new Set([
  'api',
  'www',
  'admin',
  'root',
  'localhost',
  'proxima',
  'status',
  'metrics',
  'dashboard',
  'console',
  'auth',
  'login',
  'mail',
  'smtp',
  'imap',
  'pop',
  'ftp',
  'ns',
  'ns1',
  'ns2',
  'dns',
  'static',
  'assets',
  'cdn',
  'docs',
  'help',
  'support',
  'control',
  'node',
  'nodes',
  'super',
  'internal',
  'test',
  'v1',
]);

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Why `name` is not a valid label, or undefined when it is. */
export function labelProblem(name: unknown): string | undefined {
  if (typeof name !== 'string' || name.length === 0) return 'must be a non-empty string';
  if (name.length > MAX_LABEL_LENGTH) return `must be at most ${MAX_LABEL_LENGTH} characters`;
  if (!LABEL.test(name)) {
    return 'must be lower-case letters, digits and hyphens, starting and ending with a letter or digit';
  }
  if (name.includes('--')) return 'must not contain a double hyphen (it separates service and node)';
  return undefined;
}

/** Throws PRX_ERR_NAME_INVALID or PRX_ERR_NAME_RESERVED unless `name` may name a node. */
export function checkNodeName(name: unknown): asserts name is string {
  const problem = labelProblem(name);
  if (problem !== undefined) throw new ProximaError(ErrorCodes.NAME_INVALID, `node name ${JSON.stringify(name)} ${problem}`);
  if (RESERVED_NAMES.has(name as string)) {
    throw new ProximaError(ErrorCodes.NAME_RESERVED, `node name "${name as string}" is reserved`);
  }
}

/** Throws PRX_ERR_NAME_INVALID unless `name` may name a service of a node. */
export function checkServiceName(name: unknown): asserts name is string {
  const problem = labelProblem(name);
  if (problem !== undefined) throw new ProximaError(ErrorCodes.NAME_INVALID, `service name ${JSON.stringify(name)} ${problem}`);
}
