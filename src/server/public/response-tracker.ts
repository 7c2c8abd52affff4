/**
 * Follows the responses a node sends on one tunnel stream, in step with the requests sent on it,
 * so the proxy knows where each response ends: when a keep-alive connection may take its next
 * request, when it must close, and when a cut-off stream means a truncated body. Bytes are relayed
 * untouched; a response head is relayed only once it is complete and valid.
 */
import { CloseFramer, createBodyFramer } from '../../proto/http/body.js';
import { RESPONSE_SIDE } from '../../proto/http/error.js';
import type { BodyFramer } from '../../proto/http/framing.js';
import { MAX_RESPONSE_HEAD_BYTES, ResponseHeadParser } from '../../proto/http/response-head.js';
import type { TunnelObservation } from '../observe/observations.js';
import type { RequestObserver } from '../observe/request-observer.js';

/** Where a tracker sends what it finds. */
export interface ResponseSink {
  /** Bytes of a response (head or body, as received): relay them to the client. */
  relay(bytes: Buffer): void;
  /** A final response is complete; `keepAlive` is false when the connection must close after it. */
  complete(keepAlive: boolean): void;
  /** A 101 answered an upgrade request; from `rest` on, the connection is a raw two-way pipe. */
  upgrade(rest: Buffer): void;
}

/** How the node's side of the stream ended, as far as responses go. */
export type StreamEnd = 'between' | 'complete' | 'truncated';

/** The request a response is awaited for. */
interface Awaited {
  method: string;
  upgrade: boolean;
  /** Filled in as its response goes by, when requests are observed. */
  obs: TunnelObservation | undefined;
}

/** Tracks the responses of one tunnel stream. */
export class ResponseTracker {
  readonly #sink: ResponseSink;
  readonly #awaited: Awaited[] = [];
  readonly #heads = new ResponseHeadParser({ maxHeadBytes: MAX_RESPONSE_HEAD_BYTES });
  #body: BodyFramer | undefined;
  #keepAlive = true;
  #stopped = false;
  readonly #observer: RequestObserver | undefined;

  constructor(sink: ResponseSink, observer?: RequestObserver) {
    this.#sink = sink;
    this.#observer = observer;
  }

  /** Requests sent whose final response is not complete. */
  get outstanding(): number {
    return this.#awaited.length;
  }

  /** The method of the request whose response comes next, if any. */
  get awaitedMethod(): string | undefined {
    return this.#awaited[0]?.method;
  }

  /** True once a final response head was relayed and its body is not complete: nothing else may be written. */
  get midResponse(): boolean {
    return this.#body !== undefined;
  }

  /** A request was sent on the stream: its response comes after those of earlier requests. */
  expect(method: string, upgrade: boolean, obs?: TunnelObservation): void {
    this.#awaited.push({ method, upgrade, obs });
  }

  /**
   * The stream was cut or reset: the requests still awaited are observed as failed (status 0), once.
   * Their responses will not come; they stay in `outstanding` for the connection to answer or cut.
   */
  abandon(): void {
    const observer = this.#observer;
    if (observer === undefined) return;
    for (const awaited of this.#awaited) {
      const { obs } = awaited;
      if (obs === undefined) continue;
      awaited.obs = undefined; // still awaited (the connection reads `outstanding`), no longer observed
      obs.status = 0;
      obs.durationMs = performance.now() - obs.startMs;
      observer.tunnel(obs);
    }
  }

  /** Stops tracking: later bytes are ignored (the connection is closing or no longer HTTP). */
  stop(): void {
    this.#stopped = true;
  }

  /**
   * Takes bytes from the node. Throws an HttpError (status 502) on a malformed response, or on
   * bytes that answer no request; nothing of a malformed head has been relayed then.
   */
  push(chunk: Buffer): void {
    let data = chunk;
    while (data.length > 0 && !this.#stopped) {
      if (this.#body === undefined) {
        if (this.#awaited.length === 0) throw RESPONSE_SIDE.syntax('the node sent bytes that answer no request');
        const got = this.#heads.push(data);
        if (got === null) return;
        data = got.rest;
        const { head } = got;
        const awaited = this.#awaited[0]!;
        const framing = head.framing(awaited.method);
        const { obs } = awaited;
        if (framing.kind === 'interim') {
          if (obs !== undefined) relayed(obs, head.raw.length);
          this.#sink.relay(head.raw);
          continue;
        }
        if (framing.kind === 'upgrade') {
          if (!awaited.upgrade) throw RESPONSE_SIDE.syntax(`status ${head.status} switches protocols, but no upgrade was asked for`);
          this.#awaited.shift();
          this.#stopped = true;
          if (obs !== undefined) {
            relayed(obs, head.raw.length);
            this.#observe(obs, head.status);
          }
          this.#sink.relay(head.raw);
          this.#sink.upgrade(data);
          return;
        }
        this.#keepAlive = head.keepAlive && framing.kind !== 'close';
        this.#body = createBodyFramer(framing, { side: RESPONSE_SIDE });
        if (obs !== undefined) {
          relayed(obs, head.raw.length);
          obs.status = head.status;
        }
        this.#sink.relay(head.raw);
        if (this.#body.done) this.#finish();
        continue;
      }
      const part = this.#body.push(data);
      if (part.bytes.length > 0) {
        const { obs } = this.#awaited[0]!;
        if (obs !== undefined) obs.bytesOut += part.bytes.length;
        this.#sink.relay(part.bytes);
      }
      data = part.rest;
      if (part.done) this.#finish();
    }
  }

  /**
   * The node ended its side of the stream: a response that runs until the end is now complete
   * ('complete'); one whose head was relayed but not its whole body is 'truncated'; otherwise
   * 'between' (requests may still be `outstanding`, with nothing of their responses relayed).
   */
  end(): StreamEnd {
    if (this.#stopped) return 'between';
    if (this.#body instanceof CloseFramer) {
      this.#finish();
      return 'complete';
    }
    return this.#body === undefined ? 'between' : 'truncated';
  }

  #finish(): void {
    this.#body = undefined;
    const { obs } = this.#awaited.shift()!;
    if (obs !== undefined) this.#observe(obs, obs.status);
    this.#sink.complete(this.#keepAlive);
  }

  #observe(obs: TunnelObservation, status: number): void {
    obs.status = status;
    obs.durationMs = performance.now() - obs.startMs;
    this.#observer!.tunnel(obs);
  }
}

/** Response bytes relayed for `obs`: the first of them are its first byte. */
function relayed(obs: TunnelObservation, bytes: number): void {
  if (obs.ttfbMs < 0) obs.ttfbMs = performance.now() - obs.startMs;
  obs.bytesOut += bytes;
}
