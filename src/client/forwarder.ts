/**
 * The node's end of every tunnel stream: read which service the super node wants, dial it on the
 * local network, say `opened` (or why not), then pipe bytes both ways. Ends and resets cross over
 * as they are: a local reset resets the stream and a stream reset resets the local connection, so
 * a cut-off body is never taken for a complete one at either end. Streams for an ollama service
 * are served by its {@link OllamaGuard} instead, which lets only shared inference through.
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { HostPort } from '../config/values.js';
import { type ErrorCode, ErrorCodes, hasCode, ProximaError } from '../errors.js';
import { type Logger, silentLogger } from '../log.js';
import { encodeMessage, MessageDecoder } from '../proto/control/codec.js';
import { type OpenMessage, parseOpen } from '../proto/control/messages.js';
import { type Exposure, exposureOf } from '../proto/service-access.js';
import { connectOptions } from '../runtime/index.js';
import { LiveList } from '../streams/live-list.js';
import { readPrefix } from '../streams/stream-prefix.js';
import { abortStream, relay } from '../streams/stream-relay.js';
import type { ModelShare } from './ollama/model-share.js';
import { OllamaGuard, type OllamaGuardOptions } from './ollama/ollama-guard.js';

/**
 * A service the forwarder may dial: its name and where it listens. Streams for a service of kind
 * `ollama` go through an {@link OllamaGuard} (with `hostHeader`, default `localhost:<port>`, and
 * `share`, default all); any other kind is relayed raw.
 */
export interface ForwardTarget {
  name: string;
  local: HostPort;
  kind?: 'http' | 'ollama';
  hostHeader?: string;
  share?: ModelShare;
  /** Default: `network` for ollama, else `public`. A `network` service refuses streams from a tenant host. */
  expose?: Exposure;
}

/** Options of a Forwarder. */
export interface ForwarderOptions {
  /** The node's services, as advertised. */
  services: readonly ForwardTarget[];
  /** How long the super node has to send the `open` header of a new stream. */
  headerTimeoutMs?: number;
  /** How long dialing a local service may take before it counts as unreachable. */
  connectTimeoutMs?: number;
  /** Limits of the guards in front of ollama services. */
  guard?: Omit<OllamaGuardOptions, 'service' | 'logger' | 'onRequest'>;
  logger?: Logger;
  /** Told of the work done, for the status page. */
  activity?: ForwardActivity;
}

/** What the forwarder reports as it works: requests (ollama) or connections (http) per service, and problems. */
export interface ForwardActivity {
  /** A request or connection for `service` begins; the function returned is told how it ended. */
  begin(service: string): (outcome: { failed: boolean; problem?: string }) => void;
}

/** One stream being served, and its local connection once dialing starts. */
interface Forwarding {
  stream: Duplex;
  socket: net.Socket | undefined;
}

/** How long the super node has, by default, to send a new stream's `open` header. */
export const DEFAULT_HEADER_TIMEOUT_MS = 10_000;
/** How long dialing a local service may take, by default. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/**
 * Serves the streams the super node opens. `handle(stream)` takes each one; `close()` refuses new
 * streams (PRX_ERR_SERVER_DRAINING) and resolves when those in flight have finished; `destroy()`
 * resets them all. Local connections are made with half-close allowed, so FIN crosses both ways.
 */
export class Forwarder {
  readonly #services: readonly ForwardTarget[];
  readonly #guards = new Map<string, OllamaGuard>();
  readonly #headerTimeoutMs: number;
  readonly #connectTimeoutMs: number;
  readonly #logger: Logger;
  readonly #activity: ForwardActivity | undefined;
  readonly #active = new LiveList<{ job: Forwarding; done: Promise<void> }>();
  #closing = false;

  constructor(options: ForwarderOptions) {
    this.#services = options.services;
    this.#headerTimeoutMs = options.headerTimeoutMs ?? DEFAULT_HEADER_TIMEOUT_MS;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.#logger = options.logger ?? silentLogger;
    this.#activity = options.activity;
    for (const s of this.#services) {
      if (s.kind !== 'ollama') continue;
      const service = { name: s.name, local: s.local, hostHeader: s.hostHeader ?? `localhost:${s.local.port}`, share: s.share ?? '*' };
      const onRequest = options.activity === undefined ? undefined : () => options.activity!.begin(s.name);
      this.#guards.set(s.name, new OllamaGuard({ ...options.guard, service, logger: this.#logger, onRequest }));
    }
  }

  /** Streams being served now. */
  get activeStreams(): number {
    return this.#active.size;
  }

  /** Serves one stream the super node opened. Never throws; every failure is answered on the stream. */
  handle(stream: Duplex): void {
    const job: Forwarding = { stream, socket: undefined };
    stream.on('error', (err) => this.#logger.debug('tunnel stream failed', { err }));
    const done = this.#closing ? this.#refuse(stream, ErrorCodes.SERVER_DRAINING, 'the node is shutting down') : this.#serve(job);
    const entry = this.#active.add({ job, done });
    void done.then(() => this.#active.delete(entry));
  }

  /** Refuses new streams, then resolves once every stream in flight has finished. */
  async close(): Promise<void> {
    this.#closing = true;
    await Promise.all(this.#active.list().map((a) => a.done));
    await Promise.all([...this.#guards.values()].map((g) => g.close()));
  }

  /** Resets every stream and local connection at once; resolves when all have closed. */
  async destroy(): Promise<void> {
    this.#closing = true;
    for (const { job } of this.#active.list()) {
      abortStream(job.stream);
      if (job.socket !== undefined) abortStream(job.socket);
    }
    await Promise.all([...this.#guards.values()].map((g) => g.destroy()));
    await Promise.all(this.#active.list().map((a) => a.done));
  }

  /** Resolves once the stream, and the local connection if one was made, have closed. */
  async #serve(job: Forwarding): Promise<void> {
    const { stream } = job;
    let open: OpenMessage;
    try {
      open = await this.#readOpen(stream);
    } catch (err) {
      this.#logger.warn('bad stream header from the super node', { err });
      if (!hasCode(err, ErrorCodes.HANDSHAKE_TIMEOUT))
        return this.#refuse(stream, ErrorCodes.MESSAGE_INVALID, 'the stream header was not a valid open message');
      abortStream(stream);
      return closed(stream);
    }
    const target = this.#services.find((s) => s.name === open.service);
    if (target === undefined)
      return this.#refuse(stream, ErrorCodes.SERVICE_UNKNOWN, `this node has no service ${JSON.stringify(open.service)}`);
    const log = this.#logger.child({ service: target.name, remote: `${open.remoteAddress}:${open.remotePort}` });
    // Defence in depth: the super node refuses these itself; a node does not rely on it.
    if (open.via === 'public' && exposureOf({ kind: target.kind ?? 'http', expose: target.expose }) === 'network') {
      log.warn('refused a stream from a tenant host: the service is exposed to the network only');
      return this.#refuse(stream, ErrorCodes.SERVICE_NOT_PUBLIC, `service ${target.name} is reachable only through the network's API`);
    }
    const guard = this.#guards.get(target.name);
    if (guard !== undefined) {
      stream.write(encodeMessage({ type: 'opened' }));
      log.debug('serving through the guard');
      return guard.serve(stream);
    }
    const ended = this.#activity?.begin(target.name);
    const socket = net.connect(connectOptions({ host: target.local.host, port: target.local.port, allowHalfOpen: true }));
    job.socket = socket;
    try {
      await this.#connected(socket, stream);
    } catch (err) {
      log.warn('local service unreachable', { err });
      ended?.({ failed: true, problem: `${target.name}: local service unreachable: ${(err as Error).message}` });
      return this.#refuse(stream, ErrorCodes.TARGET_UNREACHABLE, `service ${target.name}: ${(err as Error).message}`);
    }
    socket.setNoDelay(true);
    stream.write(encodeMessage({ type: 'opened' }));
    log.debug('forwarding');
    const { clean } = await relay(stream, socket);
    ended?.({ failed: !clean });
    if (!clean) log.debug('forwarding ended abruptly');
  }

  /** Answers `error {code, message}` and ends the stream; the super node resets it on reading that. */
  #refuse(stream: Duplex, code: ErrorCode, message: string): Promise<void> {
    if (!stream.destroyed) {
      stream.end(encodeMessage({ type: 'error', code, message }));
      stream.resume();
    }
    return closed(stream);
  }

  #readOpen(stream: Duplex): Promise<OpenMessage> {
    const decoder = new MessageDecoder();
    return readPrefix(
      stream,
      (chunk) => {
        const [message] = decoder.push(chunk, 1);
        return message === undefined ? undefined : { value: parseOpen(message), rest: decoder.takeRest() };
      },
      {
        timeoutMs: this.#headerTimeoutMs,
        timeoutError: () => new ProximaError(ErrorCodes.HANDSHAKE_TIMEOUT, `no stream header within ${this.#headerTimeoutMs} ms`),
        endedError: (cause) => new ProximaError(ErrorCodes.MESSAGE_INVALID, 'the stream ended before its header', { cause }),
      },
    );
  }

  /**
   * Resolves once `socket` connects. Rejects, once the socket has closed, after a refusal, a
   * timeout, or the stream closing meanwhile, with the reason.
   */
  #connected(socket: net.Socket, stream: Duplex): Promise<void> {
    return new Promise((resolve, reject) => {
      let failure: Error | undefined;
      const fail = (err: Error): void => {
        failure ??= err;
        socket.destroy();
      };
      const timer = setTimeout(() => fail(new Error(`no connection within ${this.#connectTimeoutMs} ms`)), this.#connectTimeoutMs);
      const onGone = (): void => fail(new Error('the tunnel stream closed while connecting'));
      const finish = (err: Error | undefined): void => {
        clearTimeout(timer);
        stream.off('close', onGone);
        socket.off('connect', onConnect).off('close', onClose);
        if (err === undefined) resolve();
        else reject(err);
      };
      const onConnect = (): void => finish(undefined);
      const onClose = (): void => finish(failure ?? new Error('the connection closed'));
      // The listener stays: relay() takes over error reporting, and a late error must not crash.
      socket.on('error', fail).once('connect', onConnect).once('close', onClose);
      if (stream.destroyed) onGone();
      else stream.once('close', onGone);
    });
  }
}

/** Resolves once the stream has closed (at once if it has). */
function closed(stream: Duplex): Promise<void> {
  return stream.closed ? Promise.resolve() : new Promise((resolve) => stream.once('close', () => resolve()));
}
