/**
 * The `cluster` section of server.yaml: where this instance's peer link listens, the address other
 * instances dial it at, and the secret every instance of the network shares. Absent: no peer link.
 */
import fs from 'node:fs';
import { type CheckContext, type Checked, fail, INVALID, isSet, map, optional, pathOf, type Schema, section } from '../../config/schema.js';
import { type HostPort, hostPort, listenAddress, tokenFields } from '../../config/values.js';

/** A validated `cluster` section. */
export interface ClusterConfig {
  listen: HostPort;
  /** Where other instances dial this one: `listen` by default, never a wildcard address. */
  advertise: HostPort;
  /** The shared secret (32 characters at least). Never logged. */
  secret: string;
}

/** A cluster secret is the key to every instance: at least this long. */
export const CLUSTER_SECRET_MIN_LENGTH = 32;

const WILDCARDS = new Set(['0.0.0.0', '::', '']);

const { token: secretValue, tokenFile: secretFileValue } = tokenFields(CLUSTER_SECRET_MIN_LENGTH);

const shape = section(
  {
    listen: listenAddress('10.0.0.5:7400'),
    advertise: optional(hostPort('10.0.0.5:7400')),
    secret: secretValue,
    secretFile: secretFileValue,
  },
  (raw, report) => {
    if (isSet(raw, 'secret') && isSet(raw, 'secretFile')) report('secretFile', 'give secret or secretFile, not both');
    else if (!isSet(raw, 'secret') && !isSet(raw, 'secretFile')) report('secret', 'required (or secretFile)');
  },
);

/** The schema of `cluster`. */
export const clusterSection: Schema<ClusterConfig> = map(shape, (value, at, ctx): Checked<ClusterConfig> => {
  const advertise = value.advertise ?? value.listen;
  if (WILDCARDS.has(advertise.host))
    return fail(ctx, pathOf(at, value.advertise === undefined ? 'listen' : 'advertise'), advertiseProblem(value.advertise === undefined));
  if (advertise.port === 0) return fail(ctx, pathOf(at, 'advertise'), 'required when listen picks a free port (port 0)');
  const secret = readSecret(value, at, ctx);
  if (secret === INVALID) return INVALID;
  return { listen: value.listen, advertise, secret };
});

function advertiseProblem(fromListen: boolean): string {
  return fromListen
    ? 'listens on every interface: set cluster.advertise to the address other instances dial (e.g. 10.0.0.5:7400)'
    : 'must be an address other instances can dial, not 0.0.0.0 or ::';
}

/** The secret from `secret`, or read now from `secretFile` and trimmed; never put in a message. */
function readSecret(value: { secret?: string; secretFile?: string }, at: string, ctx: CheckContext): Checked<string> {
  if (value.secretFile === undefined) return value.secret!;
  let text: string;
  try {
    text = fs.readFileSync(value.secretFile, 'utf8').trim();
  } catch (err) {
    return fail(ctx, pathOf(at, 'secretFile'), `cannot read ${value.secretFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (text.length < CLUSTER_SECRET_MIN_LENGTH || /\s/.test(text))
    return fail(
      ctx,
      pathOf(at, 'secretFile'),
      `the secret in ${value.secretFile} must be at least ${CLUSTER_SECRET_MIN_LENGTH} characters, without spaces`,
    );
  return text;
}
