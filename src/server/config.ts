/**
 * server.yaml: what `proxima-server` reads. Every key has a default, so no file at all is a working
 * super node for `*.localhost`. Each section is its own schema: a later section (api keys, routing,
 * ledger) is one more interface and one more line in `serverSchema`.
 */
import { addressRanges, type TrustProxySetting } from '../config/access.js';
import {
  boolean,
  type Checked,
  type ConfigSource,
  INVALID,
  integer,
  isSet,
  map,
  object,
  oneOf,
  optional,
  type Schema,
  scalar,
  section,
  union,
  validate,
  withDefault,
} from '../config/schema.js';
import {
  duration,
  folderPath,
  type HostPort,
  hostname,
  type LogConfig,
  listenAddress,
  logShape,
  type RuntimeConfig,
  readableFile,
  resolveToken,
  runtimeSection,
  tokenFields,
  tokenRules,
} from '../config/values.js';
import { readYamlFile } from '../config/yaml.js';
import { HOUR_MS, MINUTE_MS } from '../time.js';
import { type ClusterConfig, clusterSection } from './cluster/cluster-config.js';
import { type LedgerConfig, ledgerSection } from './ledger/ledger-config.js';
import { type ApiConfig, apiSection, type RoutingConfig, routingSection } from './models/api-config.js';
import { type ModelNamesConfig, modelNamesSection } from './models/routing/model-names-config.js';
import { type PresenceConfig, presenceSection } from './presence/presence-config.js';
import { publicUrlProblem } from './public-urls.js';
import { type RewardsConfig, rewardsSection } from './rewards/rewards-config.js';
import { type StoreConfig, storeSection, withDatabaseUrlFromEnv } from './storage/postgres/postgres-url.js';

/** The control listener, where nodes dial in. */
export interface ControlConfig {
  listen: HostPort;
  /** Present when the control port speaks TLS: absolute paths of PEM files, readable at load. */
  tls?: { cert: string; key: string };
  handshakeTimeoutMs: number;
  /** From accept to the node's preamble: an idle connection is closed after this. */
  preambleTimeoutMs: number;
  /** Handshakes in progress at most, in all and from one address. */
  maxHandshakes: number;
  maxHandshakesPerAddress: number;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
}

/** The public HTTP listener, routed by Host. */
export interface HttpConfig {
  listen: HostPort;
  /**
   * How users reach the public listener, as a template (`https://{host}`): shown to nodes and
   * operators. Absent: `http://<host>[:port]` on the listener's own port.
   */
  publicUrl?: string;
  /**
   * The reverse proxies in front (nginx): `true` is loopback only, a list names addresses and CIDR
   * ranges. From those peers X-Forwarded-For/-Proto are believed and a connection may carry
   * requests for many upstreams (the proxy pools connections); from any other, they are replaced.
   */
  trustProxy: TrustProxySetting;
  maxHeadBytes: number;
  headTimeoutMs: number;
  idleTimeoutMs: number;
  /** A request body on a tenant host must be all there within this, from the end of its head. */
  bodyTimeoutMs: number;
  drainTimeoutMs: number;
  /** Most public connections open at once; more are refused at accept. */
  maxConnections: number;
}

/** Who may add nodes: only the admin, or anyone (rate limited). */
export interface RegistrationConfig {
  mode: 'admin' | 'open';
  openRatePerMinute: number;
}

/** The admin credential (absent when neither `admin.token` nor `admin.tokenFile` is set) and the admin listener. */
export interface AdminConfig {
  token?: string;
  /** Where /healthz, /readyz and /metrics are served; false: no admin listener. */
  listen: HostPort | false;
}

/** Prometheus metrics on the admin listener. */
export interface MetricsConfig {
  /** False: nothing is counted and /metrics is 404. */
  enabled: boolean;
  /** The bearer /metrics asks for; absent: /metrics is open (the admin listener is loopback by default). */
  token?: string;
}

/** A validated server.yaml with every default filled and every path absolute. */
export interface ServerConfig {
  /** Nodes are served at `<node>.<domain>`. */
  domain: string;
  dataDir: string;
  /** Present when `store` is set: `store.postgres.url` (or PROXIMA_DATABASE_URL) puts shared state in PostgreSQL. */
  store?: StoreConfig;
  /** Present when `cluster` is set: the peer link to the other instances (it requires `store.postgres`). */
  cluster?: ClusterConfig;
  control: ControlConfig;
  http: HttpConfig;
  registration: RegistrationConfig;
  admin: AdminConfig;
  metrics: MetricsConfig;
  /** Who may use the OpenAI/Ollama endpoint, and its limits. */
  api: ApiConfig;
  /** How its requests wait for nodes and how long nodes may take. */
  routing: RoutingConfig;
  /** Public names for the nodes' models: aliases and fallbacks. */
  models: ModelNamesConfig;
  /** How the usage ledger is written. */
  ledger: LedgerConfig;
  /** The credit rules, and how probes and canaries run. */
  rewards: RewardsConfig;
  /** How the presence file (who is online) is written. */
  presence: PresenceConfig;
  log: ServerLogConfig;
  /** Whether the runtime tricks apply (src/runtime). */
  runtime: RuntimeConfig;
}

/** The `log` section of server.yaml: the shared keys and the access log's switch. */
export interface ServerLogConfig extends LogConfig {
  /** One info line per finished request, tunnel and API (src/server/observe/access-log.ts). */
  access: boolean;
}

const controlSection = section({
  listen: withDefault(listenAddress('0.0.0.0:7000'), '0.0.0.0:7000'),
  tls: optional(object({ cert: readableFile(), key: readableFile() })),
  handshakeTimeoutMs: withDefault(duration(1, 5 * MINUTE_MS), 10_000),
  preambleTimeoutMs: withDefault(duration(1, 5 * MINUTE_MS), 3_000),
  maxHandshakes: withDefault(integer(1, 1_000_000), 1024),
  maxHandshakesPerAddress: withDefault(integer(1, 1_000_000), 16),
  heartbeatIntervalMs: withDefault(duration(100, HOUR_MS), 15_000),
  heartbeatTimeoutMs: withDefault(duration(100, HOUR_MS), 10_000),
});

const httpSection = section({
  listen: withDefault(listenAddress('0.0.0.0:8080'), '0.0.0.0:8080'),
  publicUrl: optional(
    scalar<string>('a URL template such as https://{host}', (v) => (typeof v === 'string' ? publicUrlProblem(v) : 'must be a string')),
  ),
  trustProxy: withDefault(union([boolean(), addressRanges()], 'true, false or a list of addresses and CIDR ranges'), false),
  maxHeadBytes: withDefault(integer(1024, 1024 * 1024), 32_768),
  headTimeoutMs: withDefault(duration(1, 5 * MINUTE_MS), 10_000),
  idleTimeoutMs: withDefault(duration(1, 24 * HOUR_MS), MINUTE_MS),
  // Tenant hosts carry uploads: 10 minutes is 750 MB at 10 Mbit/s. A body trickled a byte at a
  // time is cut at this, whatever its idle gaps.
  bodyTimeoutMs: withDefault(duration(1, 24 * HOUR_MS), 10 * MINUTE_MS),
  drainTimeoutMs: withDefault(duration(0, HOUR_MS), 30_000),
  maxConnections: withDefault(integer(1, 1_000_000), 10_000),
});

const registrationSection = section({
  mode: withDefault(oneOf(['admin', 'open']), 'admin'),
  openRatePerMinute: withDefault(integer(1, 100_000), 10),
});

/** At least 16 characters: an admin token is the key to the whole registry. */
const ADMIN_TOKEN_MIN_LENGTH = 16;

/** `host:port` or `false` (off). */
function listenOrOff(example: string): Schema<HostPort | false> {
  const address = listenAddress(example);
  const off = scalar<false>('false', (v) => (v === false ? undefined : 'must be false'));
  return union([off, address], `host:port, :port, a port, or false (off), e.g. ${example}`);
}

const adminSection = map(
  section(
    { ...tokenFields(ADMIN_TOKEN_MIN_LENGTH), listen: withDefault(listenOrOff('127.0.0.1:7070'), '127.0.0.1:7070') },
    tokenRules(false),
  ),
  (value, at, ctx) => {
    const token = resolveToken(value, at, ctx, ADMIN_TOKEN_MIN_LENGTH);
    if (token === INVALID) return INVALID;
    return token === undefined ? { listen: value.listen } : { token, listen: value.listen };
  },
);

/** A scraper's token: 16 characters at least, like the admin's. */
const metricsSection = map(
  section({ enabled: withDefault(boolean(), true), ...tokenFields(ADMIN_TOKEN_MIN_LENGTH) }, tokenRules(false)),
  (value, at, ctx): Checked<MetricsConfig> => {
    const token = resolveToken(value, at, ctx, ADMIN_TOKEN_MIN_LENGTH);
    if (token === INVALID) return INVALID;
    return token === undefined ? { enabled: value.enabled } : { enabled: value.enabled, token };
  },
);

const serverSchema: Schema<ServerConfig> = object(
  {
    domain: withDefault(hostname(), 'localhost'),
    dataDir: withDefault(folderPath(), './data'),
    store: optional(storeSection),
    cluster: optional(clusterSection),
    control: controlSection,
    http: httpSection,
    registration: registrationSection,
    admin: adminSection,
    metrics: metricsSection,
    api: apiSection,
    routing: routingSection,
    models: modelNamesSection,
    ledger: ledgerSection,
    rewards: rewardsSection,
    presence: presenceSection,
    log: section({ ...logShape, access: withDefault(boolean(), true) }),
    runtime: runtimeSection,
  },
  (raw, report) => {
    // Instances share their nodes through PostgreSQL: without it, a peer would have nothing to forward.
    if (isSet(raw, 'cluster') && !isSet(raw, 'store')) report('cluster', 'requires store.postgres (the instances share their state there)');
  },
);

/** Validates a parsed document; throws ConfigError (PRX_ERR_CONFIG_INVALID) listing every problem. */
export function parseServerConfig(raw: unknown, source: ConfigSource = {}): ServerConfig {
  return validate(serverSchema, raw, source);
}

/**
 * The embedded defaults, as `proxima-server` runs with no file. Its `dataDir` is relative
 * (`data`); {@link loadServerConfig} resolves it against the working directory.
 */
export const DEFAULT_SERVER_CONFIG: Readonly<ServerConfig> = deepFreeze(parseServerConfig({}, { baseDir: '' }));

/** Frozen all the way down, so no caller can change the defaults for every other. */
function deepFreeze<T extends object>(value: T): T {
  for (const child of Object.values(value)) if (typeof child === 'object' && child !== null) deepFreeze(child as object);
  return Object.freeze(value);
}

/**
 * Reads and validates server.yaml; with no file, the embedded defaults with `dataDir` under the
 * working directory. PROXIMA_DATABASE_URL in `env`, when set, is `store.postgres.url`.
 */
export function loadServerConfig(file?: string, env: NodeJS.ProcessEnv = process.env): ServerConfig {
  if (file === undefined) return parseServerConfig(withDatabaseUrlFromEnv({}, env));
  return parseServerConfig(withDatabaseUrlFromEnv(readYamlFile(file), env), { file });
}
