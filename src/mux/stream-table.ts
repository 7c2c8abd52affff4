import { ErrorCodes } from '../errors.js';
import { IdTable } from './id-table.js';
import { MuxError, protocolError } from './mux-error.js';
import type { MuxStream } from './stream.js';

/**
 * The open streams of a session and the rules for their ids: the client opens odd ids, the
 * server even ones, each side counting up, so an id at or below the last one the peer used is a
 * reuse, whether or not that stream is still open.
 */
export class StreamTable {
  readonly #open = new IdTable<MuxStream>();
  #nextLocalId: number;
  #lastRemoteId = 0;
  readonly #remoteParity: number;
  readonly #maxStreams: number;

  constructor(role: 'client' | 'server', maxStreams: number) {
    this.#maxStreams = maxStreams;
    this.#nextLocalId = role === 'client' ? 1 : 2;
    this.#remoteParity = role === 'client' ? 0 : 1;
  }

  get size(): number {
    return this.#open.size;
  }

  get(id: number): MuxStream | undefined {
    return this.#open.get(id);
  }

  /** The open streams, as a new array (closing them changes the table). */
  list(): MuxStream[] {
    return this.#open.list();
  }

  /** The id for a stream we open; throws PRX_ERR_MUX_TOO_MANY_STREAMS or _GOAWAY (ids exhausted). */
  nextId(): number {
    if (this.#open.size >= this.#maxStreams) {
      throw new MuxError(ErrorCodes.MUX_TOO_MANY_STREAMS, `at most ${this.#maxStreams} streams may be open`);
    }
    if (this.#nextLocalId > 0xffff_ffff) throw new MuxError(ErrorCodes.MUX_GOAWAY, 'stream ids are exhausted');
    const id = this.#nextLocalId;
    this.#nextLocalId += 2;
    return id;
  }

  /**
   * Checks the id of a stream the peer opens. Throws a protocol error for a reused id or one of
   * the wrong parity; returns false when the table is full (the caller refuses it with RST).
   */
  admitRemote(id: number): boolean {
    if (this.#open.has(id)) throw protocolError(ErrorCodes.MUX_STREAM_ID, `stream id ${id} reused while open`);
    if ((id & 1) !== this.#remoteParity) {
      throw protocolError(ErrorCodes.MUX_STREAM_ID, `peer opened stream ${id}, an id of the wrong parity`);
    }
    if (id <= this.#lastRemoteId) throw protocolError(ErrorCodes.MUX_STREAM_ID, `peer reused stream id ${id}`);
    this.#lastRemoteId = id;
    return this.#open.size < this.#maxStreams;
  }

  add(stream: MuxStream): void {
    this.#open.set(stream.id, stream);
  }

  /** Removes `stream` if it is the one registered under its id. */
  remove(stream: MuxStream): void {
    if (this.#open.get(stream.id) === stream) this.#open.delete(stream.id);
  }

  clear(): void {
    this.#open.clear();
  }
}
