/**
 * One attempt at a request on one node: send it through the node's pool, watch the clocks (first
 * byte, idle between chunks, total), keep an SSE stream alive while the first token is awaited, and
 * relay the answer to the user. An attempt that fails before the user got a byte, in a way another
 * node may fix (no connection, a refusal, a 5xx), asks for a retry instead of answering. A complete
 * answer's tail (answer-relays.ts) waits for `commit`: the user gets it only once the answer's usage
 * record is durable, and a cut answer with PRX_ERR_USAGE_NOT_RECORDED if it cannot be made so.
 */
import type { Readable } from 'node:stream';
import type { CancelSignal } from '../../../cancel.js';
import { type ErrorCode, ErrorCodes, hasCode, ProximaError } from '../../../errors.js';
import type { Dispatcher, DispatchResponse } from '../../../http/dispatcher.js';
import { ERROR_CODE_HEADER, FORWARD_REFUSED_HEADER } from '../../../proto/http/error.js';
import type { RequestOutcome } from '../../ledger/ledger-record.js';
import type { ApiRoute } from '../api-routes.js';
import type { LlmRequest } from '../llm-request.js';
import type { ModelHost } from '../routing/model-catalog.js';
import type { AnswerMeter } from './answer-meter.js';
import { type AnswerRelay, answerRelay, unfinished } from './answer-relays.js';
import type { AnswerWriter } from './answer-writer.js';
import { CallClock, type CallTimeouts } from './call-clock.js';

/** What an attempt needs. */
export interface NodeCallOptions {
  pool: Dispatcher;
  host: ModelHost;
  route: ApiRoute;
  request: LlmRequest;
  /** Headers for the node (request id, user agent, content type). */
  headers: Record<string, string>;
  writer: AnswerWriter;
  /**
   * The request's signal: aborted when the user leaves, or by `abort` when this attempt times out
   * (which ends the request: a timed-out attempt is never retried). One Cancel for both (cancel.ts).
   */
  signal: CancelSignal;
  abort: (reason: Error) => void;
  timeouts: CallTimeouts;
  /** performance.now() when the request arrived: ttft and the total timeout count from there. */
  startMs: number;
  /** True when another node may take the request if this one fails before answering. */
  canRetry: boolean;
  /** Retry-After of a 503 this attempt answers itself (a node whose model service is down). */
  retryAfterMs?: number;
  /**
   * Records a complete answer whose tail (`tailBytes` long, not yet written) is held: resolves once
   * the record is durable, rejects when it cannot be written.
   */
  commit: (result: CallResult, tailBytes: number) => Promise<void>;
}

/** How an attempt ended. */
export interface CallResult {
  outcome: RequestOutcome;
  /** Set when the attempt gave up before the user got a byte, for another node to try. */
  retry?: ProximaError;
  meter?: AnswerMeter;
  /** Request start to the node's first byte, in ms; null when none came. */
  ttftMs: number | null;
  /** True when `commit` was called: the answer's record was written, or failed to be. */
  committed?: boolean;
  /** True when the node is to blame (no connection, a 5xx, a cut stream, a timeout): it counts against its breaker. */
  fault?: boolean;
}

/** The most of a node's error answer read to tell the user in-band what it said. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;

/** Runs one attempt to its end; never rejects. */
export async function callNode(o: NodeCallOptions): Promise<CallResult> {
  const { host, writer, signal } = o;
  if (signal.aborted) return { outcome: 'client_abort', ttftMs: null };
  let timedOut: ProximaError | undefined;
  const clock = new CallClock(o.timeouts, o.startMs, host.node.name, (err) => {
    if (signal.aborted) return;
    timedOut = err;
    o.abort(err);
  });
  clock.keepAlive(() => writer.keepAlive());
  let ttftMs: number | null = null;
  const firstByte = (): void => {
    if (ttftMs !== null) return;
    ttftMs = performance.now() - o.startMs;
    clock.firstByte();
  };
  const ended = (outcome: RequestOutcome, meter?: AnswerMeter): CallResult => ({ outcome, meter, ttftMs });
  const failed = (err: unknown, meter?: AnswerMeter): CallResult => {
    if (timedOut !== undefined) {
      writer.fail(timedOut);
      return { ...ended('timeout', meter), fault: true };
    }
    // The user left after the node's own in-band error reached them (an SDK stops reading at an
    // error event): the answer failed at the node, whichever end the proxy noticed first.
    if (signal.aborted) return meter?.error === undefined ? ended('client_abort', meter) : { ...ended('node_error', meter), fault: true };
    const nodeErr = asNodeError(err, host);
    // Busy or shutting down at the instance holding the node is no fault of the node's.
    const fault = !hasCode(nodeErr, ErrorCodes.NODES_BUSY) && !hasCode(nodeErr, ErrorCodes.SERVER_DRAINING);
    if (o.canRetry && !writer.started && meter === undefined) return { outcome: 'node_error', retry: nodeErr, ttftMs, fault };
    writer.fail(nodeErr, fault ? undefined : o.retryAfterMs);
    return { ...ended('node_error', meter), fault };
  };
  try {
    let response: DispatchResponse;
    try {
      response = await o.pool.request({
        method: o.route.method,
        path: o.route.path,
        headers: o.headers,
        body: o.request.body,
        signal,
      });
    } catch (err) {
      return failed(err);
    }
    const { statusCode: status, body } = response;
    // Refused by the instance holding a node another instance holds: as if refused here.
    const refused = host.node.remote === true ? headerValue(response.headers[FORWARD_REFUSED_HEADER.toLowerCase()]) : undefined;
    if (refused !== undefined) return failed(await refusal(refused, body));
    const contentType = headerValue(response.headers['content-type']) ?? 'application/json; charset=utf-8';
    const serviceDown = headerValue(response.headers[ERROR_CODE_HEADER.toLowerCase()]) === ErrorCodes.TARGET_UNREACHABLE;
    if (status >= 500 && (o.canRetry || serviceDown) && !writer.started) {
      discard(body);
      // The node is online but its Ollama is not: the model is unavailable there, not broken.
      const retry = serviceDown
        ? new ProximaError(ErrorCodes.MODEL_UNAVAILABLE, `the model service of node ${host.node.name} is down`)
        : new ProximaError(ErrorCodes.NODE_FAILED, `node ${host.node.name} answered ${status}`);
      if (o.canRetry) return { outcome: 'node_error', retry, ttftMs, fault: true };
      writer.fail(retry, o.retryAfterMs);
      return { ...ended('node_error'), fault: true };
    }
    if (status < 200 || status > 299) {
      if (!writer.started) {
        // The node's own error, in the shape its Ollama gives each API: passed on as it is.
        writer.head(status, { 'content-type': contentType });
        await pipeBody(body, writer, (chunk) => {
          firstByte();
          return chunk;
        });
        writer.end();
        return { ...ended('node_error'), fault: status >= 500 };
      }
      const said = await readErrorBody(body);
      writer.fail(
        new ProximaError(ErrorCodes.NODE_FAILED, `node ${host.node.name} answered ${status}${said === undefined ? '' : `: ${said}`}`),
      );
      return { ...ended('node_error'), fault: status >= 500 };
    }
    const relay = answerRelay(o.route, o.request);
    writer.head(status, { 'content-type': contentType });
    try {
      await pipeBody(body, writer, (chunk) => {
        firstByte();
        clock.activity();
        return relay.push(chunk);
      });
    } catch (err) {
      return failed(err, relay.meter);
    }
    firstByte();
    clock.stop(); // the node is done; waiting for the disk is not the node's silence
    return await finish(relay, writer, (tailBytes) => o.commit(ended('ok', relay.meter), tailBytes), ended);
  } catch (err) {
    return failed(err);
  } finally {
    clock.stop();
  }
}

/**
 * The node's answer ended. Complete: its tail goes out once `commit` resolves; if it rejects, the
 * answer is cut instead (an in-band error in a stream, a reset connection in a whole answer), so
 * the user never holds an answer that looks complete and was not recorded. Not complete: the user
 * is told in-band, unless the node did.
 */
async function finish(
  relay: AnswerRelay,
  writer: AnswerWriter,
  commit: (tailBytes: number) => Promise<void>,
  ended: (outcome: RequestOutcome, meter?: AnswerMeter) => CallResult,
): Promise<CallResult> {
  const tail = relay.end();
  if (!relay.complete) {
    writer.write(tail);
    if (relay.meter.error !== undefined)
      writer.end(); // the node's own in-band error went out already
    else writer.fail(unfinished(relay));
    return { ...ended('node_error', relay.meter), fault: true };
  }
  const result: CallResult = { ...ended('ok', relay.meter), committed: true };
  try {
    await commit(tail.length);
  } catch (err) {
    writer.fail(new ProximaError(ErrorCodes.USAGE_NOT_RECORDED, 'the answer could not be recorded in the usage ledger', { cause: err }));
    return result;
  }
  writer.write(tail);
  writer.end();
  return result;
}

/** Relays `body` through `transform` to the user, with the user's backpressure; rejects if the body fails. */
function pipeBody(body: Readable, writer: AnswerWriter, transform: (chunk: Buffer) => Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    body.on('data', (chunk: Buffer) => {
      let out: Buffer;
      try {
        out = transform(chunk);
      } catch (err) {
        discard(body);
        reject(err);
        return;
      }
      if (!writer.write(out)) {
        body.pause();
        writer.onDrain(() => body.resume());
      }
    });
    body.once('end', resolve);
    body.once('error', reject);
  });
}

/** The message of a node's JSON error answer (`{"error":"..."}` or `{"error":{"message":...}}`), if it has one. */
async function readErrorBody(body: Readable): Promise<string | undefined> {
  const text = await readText(body, MAX_ERROR_BODY_BYTES);
  try {
    const json = JSON.parse(text ?? '') as { error?: unknown };
    const e = json.error as { message?: unknown } | string | undefined;
    const said = typeof e === 'string' ? e : typeof e?.message === 'string' ? e.message : undefined;
    return said?.slice(0, 512);
  } catch {
    return undefined;
  }
}

/** Drops the rest of a node's answer (its stream is reset; the error that follows is expected). */
function discard(body: Readable): void {
  body.on('error', () => undefined);
  body.destroy();
}

/** The coded error a refusal from the instance holding the node stands for; its body is the message. */
async function refusal(code: string, body: Readable): Promise<ProximaError> {
  const known = (Object.values(ErrorCodes) as string[]).includes(code) ? (code as ErrorCode) : ErrorCodes.NODE_FAILED;
  const said = await readText(body, 1024);
  return new ProximaError(known, said ?? 'the instance holding the node refused the request');
}

/** Up to `max` bytes of `body` as text (undefined when it failed), the rest dropped. */
async function readText(body: Readable, max: number): Promise<string | undefined> {
  const parts: Buffer[] = [];
  let bytes = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      parts.push(chunk);
      if (bytes > max) break;
    }
    return Buffer.concat(parts).toString('utf8').slice(0, max);
  } catch {
    return undefined;
  } finally {
    discard(body);
  }
}

/** A failure on the way to or from a node, as a coded error naming the node. */
function asNodeError(err: unknown, host: ModelHost): ProximaError {
  if (err instanceof ProximaError) return err;
  const what = err instanceof Error ? err.message : String(err);
  return new ProximaError(ErrorCodes.NODE_FAILED, `node ${host.node.name} failed: ${what}`, { cause: err });
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
