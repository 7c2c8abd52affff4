/**
 * Change notices between super node instances on one PostgreSQL: LISTEN/NOTIFY on one channel,
 * `proxima_changes`, over a dedicated connection (not the pool's: a pooled connection is handed to
 * other queries and released, and LISTEN belongs to one session). When that connection is lost,
 * notices sent meanwhile are lost with it, so the notifier reconnects with backoff and says `resync`
 * once it listens again (consumers then reload everything), and says `resync` every `pollIntervalMs`
 * while it is down: polling is the fallback, as long as the pool still reaches the store.
 */
import { EventEmitter } from 'node:events';
import pg from 'pg';
import { type Logger, silentLogger } from '../../../log.js';
import type { PostgresStore } from './postgres-pool.js';

/** The one channel every instance listens on. */
export const CHANGES_CHANNEL = 'proxima_changes';

/** PostgreSQL's limit on a NOTIFY payload is 8000 bytes. */
export const MAX_PAYLOAD_BYTES = 7999;

/** What changed; `from` is the sending instance's id. Consumers skip `from === instance` when they want. */
export interface ChangeMessage {
  kind: 'nodes' | 'keys' | 'presence' | 'session' | 'canary';
  from: string;
  [field: string]: unknown;
}

const KINDS: ReadonlySet<string> = new Set(['nodes', 'keys', 'presence', 'session', 'canary']);

export interface PgNotifierOptions {
  store: PostgresStore;
  /** This instance's id, sent as `from`. */
  instance: string;
  logger?: Logger;
  /** While the LISTEN connection is down, `resync` this often (default 1000). */
  pollIntervalMs?: number;
}

export const DEFAULT_POLL_INTERVAL_MS = 1000;
const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 5000;

/** A notice as received, or undefined when it is not one of ours. */
function parse(payload: string | undefined): ChangeMessage | undefined {
  if (payload === undefined) return undefined;
  try {
    const msg = JSON.parse(payload) as Partial<ChangeMessage> | null;
    if (msg === null || typeof msg !== 'object' || typeof msg.from !== 'string' || !KINDS.has(msg.kind as string)) return undefined;
    return msg as ChangeMessage;
  } catch {
    return undefined;
  }
}

/** Receives and sends change notices; see the file comment. */
export class PgNotifier extends EventEmitter<{ change: [msg: ChangeMessage]; resync: [] }> {
  readonly instance: string;
  #store: PostgresStore;
  #logger: Logger;
  #pollIntervalMs: number;
  #client: pg.Client | undefined;
  #connected = false;
  #closed = false;
  #backoffMs = RECONNECT_MIN_MS;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #pollTimer: NodeJS.Timeout | undefined;

  private constructor(options: PgNotifierOptions) {
    super();
    this.setMaxListeners(100); // every store of the instance follows it, twice (change, resync)
    this.instance = options.instance;
    this.#store = options.store;
    this.#logger = options.logger ?? silentLogger;
    this.#pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  }

  /** Connects and listens; PRX_ERR_STORE_UNAVAILABLE (URL redacted) when the first connection fails. */
  static async open(options: PgNotifierOptions): Promise<PgNotifier> {
    const notifier = new PgNotifier(options);
    await notifier.#connect();
    return notifier;
  }

  /** True while the LISTEN connection is up. */
  get connected(): boolean {
    return this.#connected;
  }

  /**
   * Sends `msg` to every instance (this one included). With `client`, inside the caller's transaction:
   * PostgreSQL delivers it on commit and drops it on rollback.
   */
  async notify(msg: Omit<ChangeMessage, 'from'>, client?: pg.ClientBase): Promise<void> {
    const payload = JSON.stringify({ ...msg, from: this.instance });
    if (Buffer.byteLength(payload) > MAX_PAYLOAD_BYTES) {
      throw new RangeError(`a change notice must be under 8000 bytes (was ${Buffer.byteLength(payload)})`);
    }
    try {
      await (client ?? this.#store.pool).query('SELECT pg_notify($1, $2)', [CHANGES_CHANNEL, payload]);
    } catch (err) {
      throw this.#store.failure('cannot send a change notice', err);
    }
  }

  /** Stops listening and closes the connection. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#reconnectTimer);
    clearInterval(this.#pollTimer);
    this.#connected = false;
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }

  async #connect(): Promise<void> {
    const options = this.#store.pool.options;
    const client = new pg.Client({
      connectionString: options.connectionString,
      connectionTimeoutMillis: options.connectionTimeoutMillis,
      application_name: 'proxima-server notifier',
      keepAlive: true,
    });
    // A broken connection emits `error` (and `end`); either means: reconnect.
    client.on('error', (err) => this.#lost(client, err));
    client.on('end', () => this.#lost(client, undefined));
    client.on('notification', (n) => {
      if (n.channel !== CHANGES_CHANNEL) return;
      const msg = parse(n.payload);
      if (msg === undefined) {
        this.#logger.warn('store: ignored a change notice that is not ours', { bytes: n.payload?.length ?? 0 });
        return;
      }
      this.#emitSafely('change', msg);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANGES_CHANNEL}`);
    } catch (err) {
      await client.end().catch(() => undefined);
      throw this.#store.failure('cannot listen for changes', err);
    }
    if (this.#closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.#client = client; // from here on, its `error` and `end` are a lost connection
    this.#connected = true;
    this.#backoffMs = RECONNECT_MIN_MS;
  }

  #lost(client: pg.Client, err: Error | undefined): void {
    if (this.#closed || this.#client !== client) return;
    this.#client = undefined;
    this.#connected = false;
    client.end().catch(() => undefined);
    this.#logger.warn('store: lost the change-notice connection; polling until it is back', {
      err: err === undefined ? undefined : this.#store.failure('change notices', err),
      pollIntervalMs: this.#pollIntervalMs,
    });
    this.#pollTimer = setInterval(() => this.#emitSafely('resync'), this.#pollIntervalMs);
    this.#pollTimer.unref();
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    const delay = this.#backoffMs / 2 + Math.random() * (this.#backoffMs / 2);
    this.#backoffMs = Math.min(this.#backoffMs * 2, RECONNECT_MAX_MS);
    this.#reconnectTimer = setTimeout(() => {
      this.#connect().then(
        () => {
          if (this.#closed) return;
          clearInterval(this.#pollTimer);
          this.#pollTimer = undefined;
          this.#logger.info('store: listening for changes again');
          this.#emitSafely('resync');
        },
        () => {
          if (!this.#closed) this.#scheduleReconnect();
        },
      );
    }, delay);
    this.#reconnectTimer.unref();
  }

  /** A consumer's throw must not break the connection's handler or the timers. */
  #emitSafely(event: 'change' | 'resync', msg?: ChangeMessage): void {
    try {
      if (event === 'change') this.emit('change', msg!);
      else this.emit('resync');
    } catch (err) {
      this.#logger.error('store: a change consumer failed', { event, err });
    }
  }
}
