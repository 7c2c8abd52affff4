/**
 * This epoch's earnings, read from the super node's API as the node itself (GET /nodes/NAME/usage
 * with the node's token as bearer token, never in the URL). Read at most once per refresh interval,
 * however often the status page asks; the answer is bounded in size and time.
 */
import type dns from 'node:dns';
import type { LookupFunction } from 'node:net';

/** What the status page shows of the node's line in the rewards report. */
export interface Earnings {
  /** When the super node answered (ISO time). */
  fetchedAt: string;
  /** The fields of the report's line (numbers, and the window it covers). */
  line: Record<string, unknown>;
}

export interface EarningsState {
  earnings?: Earnings;
  /** Why the last read failed, if it did. */
  error?: string;
}

export const EARNINGS_REFRESH_MS = 30_000;
const MAX_ANSWER_BYTES = 256 * 1024;
const TIMEOUT_MS = 10_000;
/** The fields of the report's line shown; others are left out, so the page stays what it claims. */
const SHOWN = [
  'node',
  'requests',
  'creditedRequests',
  'failedRequests',
  'promptTokens',
  'completionTokens',
  'requestCredit',
  'uptimeCredit',
  'pendingCredit',
  'validatedCredit',
  'forfeitedCredit',
  'share',
];

/** Reads the node's earnings; `get()` answers from a cache no older than `refreshMs`. */
export class EarningsReader {
  readonly #name: string;
  readonly #token: string;
  readonly #refreshMs: number;
  #apiUrl: string | undefined;
  #state: EarningsState = {};
  #readAtMs = Number.NEGATIVE_INFINITY;
  #reading: Promise<void> | undefined;

  constructor(options: { name: string; token: string; refreshMs?: number }) {
    this.#name = options.name;
    this.#token = options.token;
    this.#refreshMs = options.refreshMs ?? EARNINGS_REFRESH_MS;
  }

  /** The API's URL, from the super node's welcome (older super nodes do not send it). */
  set apiUrl(url: string | undefined) {
    this.#apiUrl = url;
  }

  /** The last answer (read again first when it is older than the refresh interval). */
  async get(): Promise<EarningsState> {
    if (this.#apiUrl === undefined) return { error: 'the super node did not say where its API is' };
    if (Date.now() - this.#readAtMs >= this.#refreshMs) {
      this.#readAtMs = Date.now();
      this.#reading ??= this.#read(this.#apiUrl).finally(() => {
        this.#reading = undefined;
      });
    }
    await this.#reading;
    return this.#state;
  }

  async #read(apiUrl: string): Promise<void> {
    try {
      const url = new URL(`${apiUrl.replace(/\/+$/, '')}/nodes/${encodeURIComponent(this.#name)}/usage`);
      const { status, body } = await getJson(url, this.#token);
      const line = Array.isArray(body) ? (body[0] as Record<string, unknown> | undefined) : undefined;
      if (status !== 200 || line === undefined || line === null || typeof line !== 'object') {
        const message = (body as { error?: { message?: unknown } } | undefined)?.error?.message;
        this.#state = {
          ...this.#state,
          error: `the super node answered ${status}${typeof message === 'string' ? `: ${message.slice(0, 200)}` : ''}`,
        };
        return;
      }
      const shown: Record<string, unknown> = {};
      for (const key of SHOWN) if (typeof line[key] === 'number' || typeof line[key] === 'string') shown[key] = line[key];
      this.#state = { earnings: { fetchedAt: new Date().toISOString(), line: shown } };
    } catch (err) {
      this.#state = { ...this.#state, error: `cannot read the earnings: ${(err as Error).message}` };
    }
  }
}

/** `*.localhost` is loopback (RFC 6761), as browsers treat it; the system resolver may not know it. */
const lookup: LookupFunction = (hostname, options, callback) => {
  if (hostname === 'localhost' || hostname.endsWith('.localhost')) {
    if (options.all === true)
      return void (callback as (e: null, a: dns.LookupAddress[]) => void)(null, [{ address: '127.0.0.1', family: 4 }]);
    return void callback(null, '127.0.0.1', 4);
  }
  process.getBuiltinModule('node:dns').lookup(hostname, options, callback);
};

/**
 * node:http and node:https load here, at the first read: the status page (off by default) is their
 * only user in the node, whose guard speaks HTTP on plain sockets (and node:tls comes with https).
 */
function getJson(url: URL, token: string): Promise<{ status: number; body: unknown }> {
  const get = url.protocol === 'https:' ? process.getBuiltinModule('node:https').get : process.getBuiltinModule('node:http').get;
  return new Promise((resolve, reject) => {
    const req = get(
      url,
      { headers: { authorization: `Bearer ${token}`, accept: 'application/json' }, lookup, timeout: TIMEOUT_MS },
      (res) => {
        const chunks: Buffer[] = [];
        let bytes = 0;
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (bytes > MAX_ANSWER_BYTES) req.destroy(new Error(`the answer passed ${MAX_ANSWER_BYTES} bytes`));
          else chunks.push(chunk);
        });
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
          } catch {
            resolve({ status: res.statusCode ?? 0, body: undefined });
          }
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
    req.on('error', reject);
  });
}
