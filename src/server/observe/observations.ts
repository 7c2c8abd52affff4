/**
 * What is known of one finished request, computed once and handed to both the access log and the
 * metrics (request-observer.ts). One object per request, and only while something observes: with
 * metrics and the access log both off, the request paths hold no observer and make none.
 */

/** A request through the tunnel to a node's service, or refused by the super node on the way. */
export class TunnelObservation {
  /**
   * The client's X-Request-Id when it is one of ours, else a new one; an error page's own id. Taken
   * only when the access log is on (the metrics need none): undefined otherwise.
   */
  requestId: string | undefined;
  /** The Host asked for (validated before routing; as sent when refused). */
  host: string | undefined;
  /** The node that answered; undefined when the super node refused the request itself. */
  node: string | undefined;
  service: string | undefined;
  method: string;
  /** The status the client got; 0 when no complete response came (the stream was cut or reset). */
  status = 0;
  /** Request head and body bytes sent on to the node. */
  bytesIn = 0;
  /** Response bytes relayed to the client (head and body, interim heads too). */
  bytesOut = 0;
  /** performance.now() when the request head was read. */
  readonly startMs: number;
  /** From the head read to the first response byte relayed; -1 when none was. */
  ttfbMs = -1;
  /** From the head read to the response's end (to the 101 for an upgrade). */
  durationMs = 0;

  constructor(requestId: string | undefined, host: string | undefined, method: string, startMs: number) {
    this.requestId = requestId;
    this.host = host;
    this.node = undefined;
    this.service = undefined;
    this.method = method;
    this.startMs = startMs;
  }

  /** A request the super node answered itself with an error page (`bytesOut` long): no node, no time but the page's. */
  static refused(
    requestId: string,
    host: string | undefined,
    method: string | undefined,
    status: number,
    bytesOut: number,
  ): TunnelObservation {
    const obs = new TunnelObservation(requestId, host, method ?? '', performance.now());
    obs.status = status;
    obs.bytesOut = bytesOut;
    obs.ttfbMs = 0;
    return obs;
  }
}

/** How an API request ended: the ledger's outcomes, and those of requests that reached no node. */
export const API_OUTCOMES = ['ok', 'node_error', 'timeout', 'client_abort', 'busy', 'refused', 'unavailable'] as const;
export type ApiOutcome = (typeof API_OUTCOMES)[number];

/** The `route` label of a request that matched no route (404, 405, 403). */
export const OTHER_ROUTE = 'other';
/** The `model` label of a model outside the catalog, and of requests that named none. */
export const OTHER_MODEL = 'other';

/** A request to the super node's API (`/v1`, `/api`). */
export class ApiObservation {
  readonly requestId: string;
  /** The route's path from the fixed list of api-routes.ts (`/v1/models/{id}` for every id), or `other`. */
  readonly route: string;
  /** The model as the ledger names it, when it is in the catalog; else `other`. */
  model: string = OTHER_MODEL;
  /** The node that answered last, if any. */
  node: string | undefined = undefined;
  status = 0;
  /** Unset until the request's end says it (see outcomeOf). */
  outcome: ApiOutcome | undefined = undefined;
  bytesIn = 0;
  bytesOut = 0;
  readonly startMs: number;
  /** Request start to the node's first byte (the ledger's ttftMs); -1 when none came. */
  ttfbMs = -1;
  durationMs = 0;
  /** As the ledger recorded them: prompt tokens the node reported. */
  tokensIn = 0;
  /** Completion tokens the node reported, else those the super node counted in the stream. */
  tokensOut = 0;

  constructor(requestId: string, route: string, startMs: number) {
    this.requestId = requestId;
    this.route = route;
    this.startMs = startMs;
  }
}

/** The outcome of a request that did not set one: from its status. */
export function outcomeOf(status: number): ApiOutcome {
  return status < 400 ? 'ok' : status < 500 ? 'refused' : 'unavailable';
}

/** `2xx`, `4xx`...; `failed` for status 0 (no complete response). */
export const STATUS_CLASSES = ['failed', '1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/** The index in STATUS_CLASSES of a status. */
export function statusClassIndex(status: number): number {
  const c = Math.floor(status / 100);
  return c >= 1 && c <= 5 ? c : 0;
}
