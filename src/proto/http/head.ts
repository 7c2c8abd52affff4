/**
 * What request and response heads share: the exact bytes, the version, the field section and
 * the persistence of the connection (RFC 9112 9.3).
 */
import type { HttpFields } from './fields.js';
import type { HttpVersion } from './framing.js';
import { listElements } from './syntax.js';

/** A parsed head. Subclasses parse the start line; this holds the rest. */
export class HttpHead {
  /** The head's exact bytes, from the start line to the final CRLFCRLF. */
  readonly raw: Buffer;
  /** The head decoded as latin1 (one char per byte), so offsets in it are offsets in `raw`. */
  readonly text: string;
  readonly version: HttpVersion;
  readonly fields: HttpFields;
  /** Where the field section starts in `text`: just after the start line's CRLF. */
  readonly startLineEnd: number;
  /** Lower-cased tokens of every Connection field. */
  readonly connection: readonly string[];
  /** Whether the connection stays open after this message: HTTP/1.1 unless `close`, HTTP/1.0 only with `keep-alive`. */
  readonly keepAlive: boolean;

  constructor(raw: Buffer, text: string, version: HttpVersion, startLineEnd: number, fields: HttpFields) {
    this.raw = raw;
    this.text = text;
    this.version = version;
    this.startLineEnd = startLineEnd;
    this.fields = fields;
    const connection: string[] = [];
    for (const value of fields.getAll('connection')) for (const t of listElements(value)) if (t !== '') connection.push(t);
    this.connection = connection;
    const close = connection.includes('close');
    this.keepAlive = version === '1.1' ? !close : !close && connection.includes('keep-alive');
  }

  /** The value of header `name` (any case); several field lines are joined with ", ". */
  get(name: string): string | undefined {
    return this.fields.get(name);
  }

  /** [name, value] pairs in the order received, with the original case of names. */
  get headers(): readonly (readonly [string, string])[] {
    return this.fields.list;
  }
}
