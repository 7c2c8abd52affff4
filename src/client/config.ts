/**
 * client.yaml: what `proxima-client` reads. Only `server`, `name` and `token` are needed; with no
 * `services` the node shares the local Ollama, with the Host rewrite Ollama needs (it answers 403
 * to any other Host, as DNS-rebinding protection).
 */

import { exposure, exposureRules, serviceAuth } from '../config/access.js';
import {
  boolean,
  type ConfigSource,
  fail,
  INVALID,
  integer,
  isMapping,
  isSet,
  list,
  map,
  object,
  oneOf,
  optional,
  type Schema,
  scalar,
  section,
  string,
  union,
  validate,
  withDefault,
} from '../config/schema.js';
import {
  duration,
  type HostPort,
  hostname,
  hostPort,
  type LogConfig,
  listenAddress,
  logSection,
  type RuntimeConfig,
  readableFile,
  resolveToken,
  runtimeSection,
  tokenFields,
  tokenRules,
} from '../config/values.js';
import { readYamlFile } from '../config/yaml.js';
import { ProximaError } from '../errors.js';
import { HOST_HEADER_PATTERN } from '../proto/control/advert-fields.js';
import { checkNodeName, checkServiceName } from '../proto/names.js';
import { defaultExposure, type Exposure, type ServiceAuth } from '../proto/service-access.js';
import { DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS } from '../time.js';
import { DEFAULT_BODY_TIMEOUT_MS, DEFAULT_MAX_BODY_BYTES } from './ollama/ollama-guard.js';

/** A web server reached through the node; `hostHeader`, when set, replaces the Host of each request. */
export interface HttpServiceConfig {
  name: string;
  kind: 'http';
  local: HostPort;
  hostHeader?: string;
  /** Default `public`. */
  expose: Exposure;
  /** With `protected` only. */
  auth?: ServiceAuth;
}

/** A local Ollama: its models are offered to the super node's OpenAI/Ollama endpoint. */
export interface OllamaServiceConfig {
  name: string;
  kind: 'ollama';
  local: HostPort;
  /** Defaults to `localhost:<port>`, the Host Ollama accepts. */
  hostHeader: string;
  /** The models offered, or `'*'` for every model Ollama lists. */
  share: '*' | string[];
  /** How many requests the super node may send at once (Ollama's OLLAMA_NUM_PARALLEL). */
  maxConcurrent: number;
  /** Default `network`: reached only through the network's API, routed, keyed and metered. */
  expose: Exposure;
  auth?: ServiceAuth;
}

export type ServiceConfig = HttpServiceConfig | OllamaServiceConfig;

/** TLS to the control port: the CA to trust (else the system's) and the name to verify. */
export interface ClientTlsConfig {
  ca?: string;
  servername?: string;
}

/** A validated client.yaml with every default filled and every path absolute. */
export interface ClientConfig {
  /** The super node's control address: the first of `servers`. */
  server: HostPort;
  /** Every control address to try in turn (`server` as one host:port or a list). */
  servers: HostPort[];
  name: string;
  /** The node's token, from `token` or read from `tokenFile`. Never log it. */
  token: string;
  /** Where the token was read from, when it came from a file. */
  tokenFile?: string;
  tls: false | ClientTlsConfig;
  /** Never empty; the first is the node's default service, served at `<node>.<domain>`. */
  services: ServiceConfig[];
  reconnect: { initialDelayMs: number; maxDelayMs: number };
  /** Pings to the super node: every intervalMs (default: the super node's), unanswered for timeoutMs ends the session. */
  heartbeat: { intervalMs?: number; timeoutMs: number };
  models: ModelsConfig;
  log: LogConfig;
  /** Whether the runtime tricks apply (src/runtime). */
  runtime: RuntimeConfig;
  /** The local status page (src/client/status), or false for none. */
  status: false | StatusConfig;
}

/** The local status page: where it listens; a taken port moves it up, at most to `listen.port + 9`. */
export interface StatusConfig {
  listen: HostPort;
}

/** Where the status page listens by default, as ngrok's inspector does. */
export const DEFAULT_STATUS_LISTEN = '127.0.0.1:4040';

/** Model sharing: how often the local Ollama's models are read, and the guard's limits on requests. */
export interface ModelsConfig {
  /** How often each ollama service's /api/tags is read again (changes are advertised). */
  refreshIntervalMs: number;
  /** Largest request body the guard in front of Ollama accepts (413 beyond). */
  maxBodyBytes: number;
  /** Time a request body has to arrive whole (408 beyond). */
  bodyTimeoutMs: number;
}

/** A node token is long and random; a short one is a placeholder left in by mistake. */
const TOKEN_MIN_LENGTH = 16;

/** A name checked by one of the proto/names assertions; its error message becomes the problem. */
function label(assertName: (name: unknown) => void): Schema<string> {
  return scalar('a name', (v) => {
    try {
      assertName(v);
      return undefined;
    } catch (err) {
      if (err instanceof ProximaError) return err.message;
      throw err;
    }
  });
}

const serviceFields = object(
  {
    name: label(checkServiceName),
    kind: withDefault(oneOf(['http', 'ollama']), 'http'),
    local: hostPort('127.0.0.1:11434'),
    hostHeader: optional(string({ pattern: HOST_HEADER_PATTERN, hint: 'a host or host:port, e.g. localhost:11434' })),
    share: optional(union([oneOf(['*']), list(string())], '"*" or a list of model names')),
    maxConcurrent: optional(integer(1, 1024)),
    expose: optional(exposure),
    auth: optional(serviceAuth),
  },
  (raw, report) => {
    exposureRules(raw, report);
    if (raw.kind === 'ollama') return;
    for (const key of ['share', 'maxConcurrent']) if (isSet(raw, key)) report(key, 'only allowed on a service of kind ollama');
  },
);

const service = map(serviceFields, ({ name, kind, local, hostHeader, share, maxConcurrent, expose, auth }): ServiceConfig => {
  // `auth` without `expose` means protected (exposureRules refuse it with network or public).
  const access = auth === undefined ? { expose: expose ?? defaultExposure(kind) } : { expose: 'protected' as const, auth };
  if (kind === 'http') return hostHeader === undefined ? { name, kind, local, ...access } : { name, kind, local, hostHeader, ...access };
  const ollama = { hostHeader: hostHeader ?? `localhost:${local.port}`, share: share ?? '*', maxConcurrent: maxConcurrent ?? 1 };
  return { name, kind, local, ...ollama, ...access };
});

/** With no `services`, the node shares the local Ollama. */
const DEFAULT_SERVICES = [{ name: 'ollama', kind: 'ollama', local: '127.0.0.1:11434' }];

const serviceItems = list(service, 1);

/** The services, names unique. Duplicates are found on the raw list, so they show with other problems. */
const servicesList: Schema<ServiceConfig[]> = {
  expected: serviceItems.expected,
  check(value, at, ctx) {
    const checked = serviceItems.check(value, at, ctx);
    const names = Array.isArray(value) ? value.map((s: unknown) => (isMapping(s) ? s.name : undefined)) : [];
    const before = ctx.problems.length;
    names.forEach((name, i) => {
      if (typeof name === 'string' && names.indexOf(name) < i) fail(ctx, `${at}[${i}].name`, `duplicate service name "${name}"`);
    });
    return ctx.problems.length === before ? checked : INVALID;
  },
};

const tlsSetting = map(
  union(
    [boolean(), object({ ca: optional(readableFile()), servername: optional(hostname()) })],
    'false, true or a mapping with keys ca, servername',
  ),
  (tls): false | ClientTlsConfig => (tls === false ? false : tls === true ? {} : tls),
);

const reconnectSection = map(
  section({ initialDelayMs: withDefault(duration(1, MINUTE_MS), 500), maxDelayMs: withDefault(duration(1, HOUR_MS), 30 * SECOND_MS) }),
  (r, at, ctx) => (r.maxDelayMs >= r.initialDelayMs ? r : fail(ctx, `${at}.maxDelayMs`, 'must not be less than initialDelayMs')),
);

const heartbeatSection = section({
  intervalMs: optional(duration(100, HOUR_MS)),
  timeoutMs: withDefault(duration(100, HOUR_MS), 10 * SECOND_MS),
});

/** One host:port, or a list of them tried in turn. */
const serverSetting = union(
  [map(hostPort('proxima.example.com:7000'), (one) => [one]), list(hostPort('proxima.example.com:7000'), 1)],
  'host:port or a list of host:port, e.g. proxima.example.com:7000',
);

const modelsSection = section({
  refreshIntervalMs: withDefault(duration(100, DAY_MS), 30 * SECOND_MS),
  maxBodyBytes: withDefault(integer(1024, 1024 * 1024 * 1024), DEFAULT_MAX_BODY_BYTES),
  bodyTimeoutMs: withDefault(duration(1, HOUR_MS), DEFAULT_BODY_TIMEOUT_MS),
});

const statusSection = map(
  union(
    [boolean(), section({ listen: withDefault(listenAddress(DEFAULT_STATUS_LISTEN), DEFAULT_STATUS_LISTEN) })],
    'false, true or a mapping with key listen',
  ),
  (status): false | StatusConfig => (status === false ? false : status === true ? { listen: { host: '127.0.0.1', port: 4040 } } : status),
);

const clientSchema: Schema<ClientConfig> = map(
  object(
    {
      server: serverSetting,
      name: label(checkNodeName),
      ...tokenFields(TOKEN_MIN_LENGTH),
      tls: withDefault(tlsSetting, false),
      services: withDefault(servicesList, DEFAULT_SERVICES),
      reconnect: reconnectSection,
      heartbeat: heartbeatSection,
      models: modelsSection,
      log: logSection,
      runtime: runtimeSection,
      status: withDefault(statusSection, {}),
    },
    tokenRules(true),
  ),
  (c, at, ctx) => {
    const token = resolveToken(c, at, ctx, TOKEN_MIN_LENGTH);
    if (token === INVALID || token === undefined) return INVALID;
    const { tokenFile, server: servers, heartbeat, ...others } = c;
    const rest = { ...others, server: servers[0]!, servers, heartbeat: withoutUndefined(heartbeat) };
    return tokenFile === undefined ? { ...rest, token } : { ...rest, token, tokenFile };
  },
);

function withoutUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** Validates a parsed document; throws ConfigError (PRX_ERR_CONFIG_INVALID) listing every problem. */
export function parseClientConfig(raw: unknown, source: ConfigSource = {}): ClientConfig {
  return validate(clientSchema, raw, source);
}

/** Reads and validates client.yaml; throws ConfigError (PRX_ERR_CONFIG_INVALID) listing every problem. */
export function loadClientConfig(file: string): ClientConfig {
  return parseClientConfig(readYamlFile(file), { file });
}
