/**
 * The field section of a head: field lines parsed strictly (RFC 9112 5), kept in their original
 * order and case, with a lower-cased lookup and each line's offset so an editor can copy it verbatim.
 */
import type { HttpSide } from './error.js';
import { findBadFieldByte, isOws, scanTokenBytes } from './syntax.js';

const COLON = 0x3a;
const FRAMING_FIELDS = new Set(['content-length', 'transfer-encoding']);

/** The header fields of one head. */
export class HttpFields {
  /** [name, value] pairs in the order received, names in their original case, values OWS-trimmed. */
  readonly list: (readonly [string, string])[] = [];
  /** The lower-cased name of each entry of `list`. */
  readonly lowerNames: string[] = [];
  /** Where each field line starts in the head text; it runs to the next start (or `end`). */
  readonly lineStarts: number[] = [];
  /** Where the field section ends in the head text: the start of the final empty line. */
  end = 0;

  /** The values of every field named `name` (any case), in order. */
  getAll(name: string): string[] {
    const lower = name.toLowerCase();
    const out: string[] = [];
    for (let i = 0; i < this.lowerNames.length; i++) if (this.lowerNames[i] === lower) out.push(this.list[i]![1]);
    return out;
  }

  /** The value of `name` (any case); several lines are joined with ", " as RFC 9110 5.3 allows. */
  get(name: string): string | undefined {
    const all = this.getAll(name);
    return all.length === 0 ? undefined : all.join(', ');
  }

  /** How many field lines are named `name` (any case). */
  count(name: string): number {
    const lower = name.toLowerCase();
    let n = 0;
    for (const l of this.lowerNames) if (l === lower) n++;
    return n;
  }
}

/**
 * Parses the field lines in [from, end) of a head, where every line ends in CRLF; `text` is
 * `bytes` decoded as latin1. Refuses obs-fold, whitespace before the colon, non-token names and
 * control characters (a bare CR or LF included) in values, all of which parsers read differently.
 */
export function parseFieldLines(
  bytes: Uint8Array,
  text: string,
  from: number,
  end: number,
  side: HttpSide,
  into = new HttpFields(),
): HttpFields {
  let pos = from;
  while (pos < end) {
    const eol = text.indexOf('\r\n', pos);
    if (eol < 0 || eol >= end) throw side.syntax('field line without CRLF');
    if (isOws(bytes[pos]!)) throw side.syntax('obsolete line folding or whitespace before a field line');
    const nameEnd = scanTokenBytes(bytes, pos, eol);
    if (nameEnd === pos) throw side.syntax('empty or invalid field name');
    if (nameEnd === eol || bytes[nameEnd] !== COLON) {
      throw side.syntax(isOws(bytes[nameEnd]!) ? 'whitespace between field name and colon' : 'invalid character in field name');
    }
    if (findBadFieldByte(bytes, nameEnd + 1, eol) >= 0) throw side.syntax('control character in field value');
    let v = nameEnd + 1;
    let ve = eol;
    while (v < ve && isOws(bytes[v]!)) v++;
    while (ve > v && isOws(bytes[ve - 1]!)) ve--;
    const name = text.slice(pos, nameEnd);
    const lower = name.toLowerCase();
    // llhttp refuses a trailing HTAB in framing fields (though OWS allows it); so must we.
    if (ve < eol && FRAMING_FIELDS.has(lower) && text.slice(ve, eol).includes('\t')) throw side.framing(`HTAB after the ${name} value`);
    into.list.push([name, text.slice(v, ve)]);
    into.lowerNames.push(lower);
    into.lineStarts.push(pos);
    pos = eol + 2;
  }
  into.end = end;
  return into;
}
