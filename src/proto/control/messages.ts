/**
 * The messages of the control protocol, and checks that turn decoded JSON into them. Every
 * message is an object with a `type`; unknown fields are ignored (newer peers may add some),
 * missing or mistyped ones fail with PRX_ERR_MESSAGE_INVALID naming the field.
 *
 * Handshake, on the raw connection after the preambles:
 *   server → client  challenge {nonce, serverVersion}
 *   client → server  login     {name, keyId, timeMs, proof, clientVersion}
 *   server → client  welcome   {name, publicUrl, heartbeatIntervalMs, apiUrl?, serviceUrlTemplate?}
 *                    or error  {code, message}
 * Then the connection carries a yamux session (the client is the yamux client). The client opens
 * stream 1 as the control stream:
 *   client → server  advertise {services}     whenever its services or shared models change
 *   either way       drain     {reason}       the sender is shutting down; no new work please
 *   either way       error     {code, message}
 * Every other stream is opened by the server for one public connection and starts with a header:
 *   server → client  open      {service, remoteAddress, remotePort, tls, via}
 *   client → server  opened    {}             then raw bytes both ways
 *                    or error  {code, message} and the stream ends
 */
import { ErrorCodes, ProximaError } from '../../errors.js';
import { HOUR_MS } from '../../time.js';
import { labelProblem } from '../names.js';
import type { Exposure, ServiceAuth } from '../service-access.js';
import { parseAccessAdvert } from './access-advert.js';
import { type ModelAdvert, parseHostHeader, parseModelAdvert } from './advert-fields.js';

export type { ModelAdvert } from './advert-fields.js';

export interface ChallengeMessage {
  type: 'challenge';
  nonce: string;
  serverVersion: string;
}
export interface LoginMessage {
  type: 'login';
  name: string;
  keyId: string;
  timeMs: number;
  proof: string;
  clientVersion: string;
}
export interface WelcomeMessage {
  type: 'welcome';
  name: string;
  publicUrl: string;
  heartbeatIntervalMs: number;
  /** The network's OpenAI/Ollama-compatible API (absent from older super nodes). */
  apiUrl?: string;
  /** A named service's URL with `{service}` in place of its name (absent from older super nodes). */
  serviceUrlTemplate?: string;
}
export interface ErrorMessage {
  type: 'error';
  code: string;
  message: string;
  /** With PRX_ERR_RATE_LIMITED: how long the peer should wait before it tries again. */
  retryAfterMs?: number;
}

/** A service a node offers. */
export interface ServiceAdvert {
  name: string;
  kind: 'http' | 'ollama';
  /** The Host the local target wants (Ollama answers 403 to any other); the super node sets it on every request. */
  hostHeader?: string;
  /** Ollama services: the models shared, and how many requests the node takes at once. */
  models?: ModelAdvert[];
  maxConcurrent?: number;
  /** Who may reach it on its hostname; absent: its kind's default (`exposureOf`). Parsed adverts always have it. */
  expose?: Exposure;
  /** With `protected` only: credentials as hashes, address ranges. */
  auth?: ServiceAuth;
}

export interface AdvertiseMessage {
  type: 'advertise';
  services: ServiceAdvert[];
}
export interface DrainMessage {
  type: 'drain';
  reason: string;
}
export interface OpenMessage {
  type: 'open';
  service: string;
  remoteAddress: string;
  remotePort: number;
  tls: boolean;
  /** How the stream was reached: a tenant host (`public`) or the network's API (`api`). */
  via: OpenVia;
}

/** An `open` from an older super node, without `via`, counts as `public`: the stricter reading. */
export type OpenVia = 'public' | 'api';
export interface OpenedMessage {
  type: 'opened';
}

export type ControlStreamMessage = AdvertiseMessage | DrainMessage | ErrorMessage;

type Raw = Record<string, unknown>;

function invalid(what: string, field: string, rule: string): ProximaError {
  return new ProximaError(ErrorCodes.MESSAGE_INVALID, `${what} message: ${field} ${rule}`);
}

/** `label` is the field's path in error messages, when it is nested. */
function str(m: Raw, what: string, field: string, maxLength = 1024, label = field): string {
  const v = m[field];
  if (typeof v !== 'string' || v.length === 0 || v.length > maxLength) {
    throw invalid(what, label, `must be a non-empty string of at most ${maxLength} characters`);
  }
  return v;
}

function int(m: Raw, what: string, field: string, min: number, max: number, label = field): number {
  const v = m[field];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw invalid(what, label, `must be an integer from ${min} to ${max}`);
  }
  return v;
}

function expectType(m: Raw, type: string): void {
  if (m.type === 'error') throw remoteError(m);
  if (m.type !== type) throw invalid(type, 'type', `must be "${type}", got ${JSON.stringify(m.type)}`);
}

/** The peer's error asked for a wait before the next try (its `retryAfterMs`). */
export class RetryLaterError extends ProximaError {
  readonly retryAfterMs: number;

  constructor(code: ProximaError['code'], message: string, retryAfterMs: number) {
    super(code, message);
    this.retryAfterMs = retryAfterMs;
  }
}

/** The longest wait a peer may ask for. */
const MAX_RETRY_AFTER_MS = HOUR_MS;

/**
 * An `error` message from the peer, as a ProximaError carrying the peer's code when it is one of
 * ours; a RetryLaterError when it asks for a wait (at most an hour).
 */
export function remoteError(m: Raw): ProximaError {
  const code = (
    typeof m.code === 'string' && /^PRX_ERR_[A-Z_]+$/.test(m.code) ? m.code : ErrorCodes.MESSAGE_INVALID
  ) as ProximaError['code'];
  const message = typeof m.message === 'string' ? m.message.slice(0, 1024) : 'the peer reported an error';
  const wait = m.retryAfterMs;
  if (typeof wait === 'number' && Number.isInteger(wait) && wait > 0)
    return new RetryLaterError(code, message, Math.min(wait, MAX_RETRY_AFTER_MS));
  return new ProximaError(code, message);
}

export function parseChallenge(m: Raw): ChallengeMessage {
  expectType(m, 'challenge');
  return { type: 'challenge', nonce: str(m, 'challenge', 'nonce', 256), serverVersion: str(m, 'challenge', 'serverVersion', 64) };
}

export function parseLogin(m: Raw): LoginMessage {
  expectType(m, 'login');
  return {
    type: 'login',
    name: str(m, 'login', 'name', 63),
    keyId: str(m, 'login', 'keyId', 64),
    timeMs: int(m, 'login', 'timeMs', 0, Number.MAX_SAFE_INTEGER),
    proof: str(m, 'login', 'proof', 128),
    clientVersion: str(m, 'login', 'clientVersion', 64),
  };
}

export function parseWelcome(m: Raw): WelcomeMessage {
  expectType(m, 'welcome');
  return {
    type: 'welcome',
    name: str(m, 'welcome', 'name', 63),
    publicUrl: str(m, 'welcome', 'publicUrl', 512),
    heartbeatIntervalMs: int(m, 'welcome', 'heartbeatIntervalMs', 0, HOUR_MS),
    ...optionalUrl(m, 'apiUrl'),
    ...optionalUrl(m, 'serviceUrlTemplate', '{service}'),
  };
}

/** `{[field]: url}` when `field` is present: an http(s) URL (containing `mark`, when given); {} when absent. */
function optionalUrl(m: Raw, field: string, mark?: string): Record<string, string> {
  if (m[field] === undefined) return {};
  const v = str(m, 'welcome', field, 512);
  if (!/^https?:\/\/[^\s]+$/i.test(v) || (mark !== undefined && !v.includes(mark)))
    throw invalid('welcome', field, `must be an http(s) URL${mark === undefined ? '' : ` containing ${mark}`}`);
  return { [field]: v };
}

export function parseOpen(m: Raw): OpenMessage {
  expectType(m, 'open');
  const tls = m.tls;
  if (typeof tls !== 'boolean') throw invalid('open', 'tls', 'must be a boolean');
  return {
    type: 'open',
    service: str(m, 'open', 'service', 63),
    remoteAddress: str(m, 'open', 'remoteAddress', 64),
    remotePort: int(m, 'open', 'remotePort', 0, 65535),
    tls,
    via: parseVia(m.via),
  };
}

function parseVia(v: unknown): OpenVia {
  if (v === undefined || v === 'public' || v === 'api') return v ?? 'public';
  throw invalid('open', 'via', 'must be "public" or "api"');
}

/** The reply to `open`: resolves for `opened`, throws the peer's coded error otherwise. */
export function parseOpened(m: Raw): OpenedMessage {
  expectType(m, 'opened');
  return { type: 'opened' };
}

function parseService(v: unknown, i: number): ServiceAdvert {
  if (v === null || typeof v !== 'object') throw invalid('advertise', `services[${i}]`, 'must be an object');
  const s = v as Raw;
  const kind = s.kind;
  if (kind !== 'http' && kind !== 'ollama') throw invalid('advertise', `services[${i}].kind`, 'must be "http" or "ollama"');
  const nameProblem = labelProblem(s.name);
  if (nameProblem !== undefined) throw invalid('advertise', `services[${i}].name`, nameProblem);
  const service: ServiceAdvert = { name: s.name as string, kind, ...parseAccessAdvert(s, kind, `services[${i}]`) };
  if (s.hostHeader !== undefined) service.hostHeader = parseHostHeader(s.hostHeader, `services[${i}].hostHeader`);
  if (s.models !== undefined) {
    if (!Array.isArray(s.models) || s.models.length > 1000)
      throw invalid('advertise', `services[${i}].models`, 'must be a list of at most 1000');
    service.models = s.models.map((m, j) => parseModelAdvert(m, `services[${i}].models[${j}]`));
  }
  if (s.maxConcurrent !== undefined) service.maxConcurrent = int(s, 'advertise', 'maxConcurrent', 1, 1024, `services[${i}].maxConcurrent`);
  return service;
}

/** A message on the control stream. */
export function parseControlStreamMessage(m: Raw): ControlStreamMessage {
  switch (m.type) {
    case 'advertise': {
      if (!Array.isArray(m.services) || m.services.length > 64) throw invalid('advertise', 'services', 'must be a list of at most 64');
      const services = m.services.map(parseService);
      const names = new Set(services.map((s) => s.name));
      if (names.size !== services.length) throw invalid('advertise', 'services', 'must not name a service twice');
      return { type: 'advertise', services };
    }
    case 'drain':
      return { type: 'drain', reason: typeof m.reason === 'string' ? m.reason.slice(0, 256) : '' };
    case 'error': {
      const err = remoteError(m);
      return { type: 'error', code: err.code, message: err.message };
    }
    default:
      throw invalid('control', 'type', `is unknown: ${JSON.stringify(m.type)}`);
  }
}
