/**
 * The super nodes a client may log in at, tried one address at a time. `server` in client.yaml is
 * one host:port or a list; a name is looked up at the start of each pass over the list and each of
 * its addresses becomes one try, so a name with several A/AAAA records fails over like a list. A
 * try keeps the entry's host name: TLS sends it as SNI and checks the certificate against it, never
 * against the address dialled.
 */
import net from 'node:net';

/** One configured entry: a host name or address, and a port. */
export interface ServerEntry {
  host: string;
  port: number;
}

/** One try: the entry's host and port, and the address to dial when the host is a name that resolved. */
export interface ServerTarget extends ServerEntry {
  address?: string;
}

/** A name's addresses, in the order the resolver gives them. */
export type LookupAll = (host: string) => Promise<string[]>;

/**
 * The system resolver (getaddrinfo, so /etc/hosts counts), every address of both families. node:dns
 * is loaded at the first lookup: a node given an address, not a name, never loads it.
 */
export const systemLookup: LookupAll = async (host) =>
  (await process.getBuiltinModule('node:dns').promises.lookup(host, { all: true, verbatim: true })).map((a) => a.address);

/** Hands out the next target, round robin over every address of every entry. */
export class ServerList {
  readonly #entries: readonly ServerEntry[];
  readonly #lookup: LookupAll;
  readonly #lookupTimeoutMs: number;
  #pending: ServerTarget[] = [];

  /** A lookup slower than `lookupTimeoutMs` counts as failed: the dial looks the name up itself, under the handshake's deadline. */
  constructor(entries: readonly ServerEntry[], lookup: LookupAll = systemLookup, lookupTimeoutMs = 5_000) {
    if (entries.length === 0) throw new TypeError('ServerList needs at least one server');
    this.#entries = entries;
    this.#lookup = lookup;
    this.#lookupTimeoutMs = lookupTimeoutMs;
  }

  /** The next target; a new pass (with fresh lookups) starts once every target of the last was tried. */
  async next(): Promise<ServerTarget> {
    if (this.#pending.length === 0) this.#pending = await this.#pass();
    return this.#pending.shift()!;
  }

  async #pass(): Promise<ServerTarget[]> {
    const passes = await Promise.all(this.#entries.map((entry) => this.#targets(entry)));
    return passes.flat();
  }

  /** An address stands for itself; a name that fails to resolve stays one try, whose dial reports why. */
  async #targets(entry: ServerEntry): Promise<ServerTarget[]> {
    if (net.isIP(entry.host) !== 0) return [entry];
    let addresses: string[];
    let timer: NodeJS.Timeout | undefined;
    try {
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('lookup timed out')), this.#lookupTimeoutMs);
      });
      addresses = await Promise.race([this.#lookup(entry.host), late]);
    } catch {
      return [entry];
    } finally {
      clearTimeout(timer);
    }
    const unique = [...new Set(addresses)];
    return unique.length === 0 ? [entry] : unique.map((address) => ({ ...entry, address }));
  }
}
