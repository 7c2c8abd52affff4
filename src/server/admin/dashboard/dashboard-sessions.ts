/**
 * Dashboard logins: a random session id handed to the browser in a cookie, and on the server a
 * bounded map from the id's SHA-256 to who logged in, expiring after an idle time and a maximum age.
 * The token itself is never kept in the cookie, and the map is keyed by a hash so that neither a
 * heap dump nor a timing of the lookup gives a usable id away.
 */
import { createHash, randomBytes } from 'node:crypto';
import { LazyLru } from '../../lazy-lru.js';

/** Who a session belongs to: the admin, or the operator of one node (with the key id it logged in with). */
export type DashboardViewer = { role: 'admin' } | { role: 'node'; node: string; keyId: string };

interface Entry {
  viewer: DashboardViewer;
  createdMs: number;
  usedMs: number;
}

/** Sizes and times of the session map. */
export interface DashboardSessionsOptions {
  maxSessions?: number;
  /** A session not used for this long is gone. */
  idleMs?: number;
  /** A session is gone this long after login, used or not. */
  maxAgeMs?: number;
  now?: () => number;
}

export const DEFAULT_MAX_SESSIONS = 1_000;
export const DEFAULT_SESSION_IDLE_MS = 60 * 60_000;
export const DEFAULT_SESSION_MAX_AGE_MS = 12 * 60 * 60_000;
/** The cookie's name; `__Host-` cannot be used, as its path must be `/`. */
export const SESSION_COOKIE = 'proxima_dashboard';
const ID_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/** The logged-in browsers. */
export class DashboardSessions {
  readonly #entries: LazyLru<string, Entry>;
  readonly #now: () => number;
  readonly #maxAgeMs: number;
  readonly #idleMs: number;

  constructor(options: DashboardSessionsOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#idleMs = options.idleMs ?? DEFAULT_SESSION_IDLE_MS;
    this.#maxAgeMs = options.maxAgeMs ?? DEFAULT_SESSION_MAX_AGE_MS;
    // The oldest-used session makes room for a new one: a flood of logins cannot grow memory.
    this.#entries = new LazyLru({ max: options.maxSessions ?? DEFAULT_MAX_SESSIONS });
  }

  /** Starts a session; returns its id, for the cookie only. */
  open(viewer: DashboardViewer): string {
    const id = randomBytes(32).toString('base64url');
    const nowMs = this.#now();
    this.#entries.set(hash(id), { viewer, createdMs: nowMs, usedMs: nowMs });
    return id;
  }

  /** Who holds session `id`, or undefined for an unknown, idle or too old one. */
  viewer(id: string | undefined): DashboardViewer | undefined {
    if (id === undefined || !ID_PATTERN.test(id)) return undefined;
    const key = hash(id);
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    const nowMs = this.#now();
    if (nowMs - entry.createdMs >= this.#maxAgeMs || nowMs - entry.usedMs >= this.#idleMs) {
      this.#entries.delete(key);
      return undefined;
    }
    entry.usedMs = nowMs;
    return entry.viewer;
  }

  /** Ends session `id` (logout, or its node was revoked). */
  end(id: string | undefined): void {
    if (id !== undefined && ID_PATTERN.test(id)) this.#entries.delete(hash(id));
  }

  get size(): number {
    return this.#entries.size;
  }

  /** How long a session lives at most, for the cookie's Max-Age. */
  get maxAgeMs(): number {
    return this.#maxAgeMs;
  }
}

/** The session id in a Cookie header, if any. */
export function sessionIdOf(cookieHeader: string | undefined): string | undefined {
  if (cookieHeader === undefined) return undefined;
  for (const part of cookieHeader.slice(0, 8192).split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === SESSION_COOKIE) return part.slice(eq + 1).trim();
  }
  return undefined;
}

const hash = (id: string): string => createHash('sha256').update(id).digest('base64url');
