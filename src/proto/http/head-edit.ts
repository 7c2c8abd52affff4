/**
 * Serialises a parsed head with edits: the proxy sets X-Forwarded-*, appends to X-Forwarded-For
 * and rewrites Host, and keeps every other byte exactly as received, in order and case.
 */
import { REQUEST_SIDE } from './error.js';
import type { HttpHead } from './head.js';
import type { RequestHead } from './request-head.js';
import { findBadFieldChar, findBadTargetChar, isToken } from './syntax.js';

/** Edits applied to a head, per field name (any case): first `remove`, then `set`, then `append`. */
export interface HeadEdits {
  /** Fields to drop, every line of each. */
  remove?: readonly string[];
  /** Fields to replace: one line with this value, where the first line was (else at the end). */
  set?: Readonly<Record<string, string>>;
  /**
   * Values to add to list fields (X-Forwarded-For): the field becomes one line, `old, new`, where
   * the first line was (else at the end), since many servers read only the first line.
   */
  append?: Readonly<Record<string, string>>;
}

/** Edits of a request head: the field edits and the request target (e.g. to origin-form). */
export interface RequestHeadEdits extends HeadEdits {
  target?: string;
}

interface FieldEdit {
  /** The name as the edit spells it, for a line added at the end. */
  name: string;
  /** Whether the received values are dropped. */
  replace: boolean;
  values: string[];
}

/**
 * The head's bytes with `edits` applied; with no edits, exactly `head.raw`. Names must be tokens
 * and values may not hold CR, LF, NUL or other controls: an edit can never split a head.
 * Throws PRX_ERR_HTTP_BAD_REQUEST otherwise.
 */
export function serializeHead(head: HttpHead, edits: HeadEdits = {}, startLine?: string): Buffer {
  const byName = collectEdits(edits);
  if (byName.size === 0 && startLine === undefined) return head.raw;
  const { text, fields } = head;
  const parts: string[] = [startLine ?? text.slice(0, head.startLineEnd)];
  const seen = new Set<string>();
  for (let i = 0; i < fields.list.length; i++) {
    const lower = fields.lowerNames[i]!;
    const edit = byName.get(lower);
    if (edit === undefined) {
      parts.push(text.slice(fields.lineStarts[i], fields.lineStarts[i + 1] ?? fields.end));
      continue;
    }
    if (seen.has(lower)) continue;
    seen.add(lower);
    const values = edit.replace ? edit.values : [...fields.getAll(lower).filter((v) => v !== ''), ...edit.values];
    if (values.length > 0) parts.push(`${fields.list[i]![0]}: ${values.join(', ')}\r\n`);
  }
  for (const [lower, edit] of byName) {
    if (!seen.has(lower) && edit.values.length > 0) parts.push(`${edit.name}: ${edit.values.join(', ')}\r\n`);
  }
  parts.push('\r\n');
  return Buffer.from(parts.join(''), 'latin1');
}

/** A request head's bytes with `edits` applied, the target included; with no edits, `head.raw`. */
export function serializeRequestHead(head: RequestHead, edits: RequestHeadEdits = {}): Buffer {
  const { target } = edits;
  if (target === undefined) return serializeHead(head, edits);
  if (target.length === 0 || findBadTargetChar(target, 0, target.length) >= 0) {
    throw REQUEST_SIDE.syntax(`invalid request target ${JSON.stringify(target)}`);
  }
  return serializeHead(head, edits, `${head.method} ${target} HTTP/${head.version}\r\n`);
}

function collectEdits(edits: HeadEdits): Map<string, FieldEdit> {
  const byName = new Map<string, FieldEdit>();
  const entry = (name: string): FieldEdit => {
    if (!isToken(name)) throw REQUEST_SIDE.syntax(`invalid field name ${JSON.stringify(name)}`);
    const lower = name.toLowerCase();
    let edit = byName.get(lower);
    if (edit === undefined) byName.set(lower, (edit = { name, replace: false, values: [] }));
    return edit;
  };
  for (const name of edits.remove ?? []) Object.assign(entry(name), { replace: true, values: [] });
  for (const [name, value] of Object.entries(edits.set ?? {}))
    Object.assign(entry(name), { name, replace: true, values: [checkValue(value)] });
  for (const [name, value] of Object.entries(edits.append ?? {})) entry(name).values.push(checkValue(value));
  return byName;
}

function checkValue(value: string): string {
  const trimmed = value.trim();
  if (trimmed !== value || findBadFieldChar(value, 0, value.length) >= 0) {
    throw REQUEST_SIDE.syntax(`invalid field value ${JSON.stringify(value)}: no controls, CR, LF, NUL or edge whitespace`);
  }
  return value;
}
