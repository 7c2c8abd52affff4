/**
 * The checks of what a node advertises, as strict on the super node as the node's own config and
 * `proxima-client verify` are: a node's hostHeader is sent in every request to its service, and its
 * model names and digests reach users' listings and the ledger, so a field with CR LF or a control
 * character in it, or one of unbounded size, is refused with PRX_ERR_MESSAGE_INVALID naming it.
 */
import { ErrorCodes, ProximaError } from '../../errors.js';

/** A model a node shares (from its Ollama's /api/tags). */
export interface ModelAdvert {
  name: string;
  digest: string;
  size?: number;
  modifiedAt?: string;
  details?: Record<string, unknown>;
}

/** A host or host:port, as client.yaml's `hostHeader` takes it: no space, no CR LF, no path. */
export const HOST_HEADER_PATTERN = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/** A digest as Ollama writes one (64 hex characters), with or without `sha256:`; letters, digits and `:._-`. */
export const DIGEST_PATTERN = /^[A-Za-z0-9:._-]{1,128}$/;

/** Longest model name (the ledger's limit) and longest string of `details`. */
export const MAX_MODEL_NAME_CHARS = 256;
const MAX_DETAIL_CHARS = 256;
const MAX_DETAIL_LIST = 16;
const MAX_DETAIL_ITEM_CHARS = 64;

/** The `details` fields of /api/tags that travel; any other is dropped. */
export const DETAIL_FIELDS = ['format', 'family', 'families', 'parameter_size', 'quantization_level', 'parent_model'] as const;

/** Any control character (CR, LF, NUL and DEL among them). */
const CONTROL = /\p{Cc}/u;

/** True when `text` has no control character. */
export function isPrintable(text: string): boolean {
  return !CONTROL.test(text);
}

type Raw = Record<string, unknown>;

function invalid(field: string, rule: string): ProximaError {
  return new ProximaError(ErrorCodes.MESSAGE_INVALID, `advertise message: ${field} ${rule}`);
}

/**
 * Why `name` cannot name a model Ollama shares (`[host/][namespace/]model[:tag]`), or undefined:
 * no whitespace or control character, no `\` or `@`, no empty path part, at most 256 characters.
 */
export function modelNameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string' || name === '' || name.length > MAX_MODEL_NAME_CHARS) {
    return `must be a non-empty string of at most ${MAX_MODEL_NAME_CHARS} characters`;
  }
  if (/[\s\\@]/.test(name) || !isPrintable(name)) return 'must not contain spaces, control characters, "\\" or "@"';
  return name.split('/').some((part) => part === '') ? 'must not have an empty path part' : undefined;
}

/** The `hostHeader` of a service, or PRX_ERR_MESSAGE_INVALID. */
export function parseHostHeader(v: unknown, at: string): string {
  if (typeof v !== 'string' || v.length > 255 || !HOST_HEADER_PATTERN.test(v)) {
    throw invalid(at, 'must be a host or host:port of at most 255 characters (letters, digits, ".", "-", an [IPv6] address)');
  }
  const port = /:(\d+)$/.exec(v);
  if (port !== null && !v.endsWith(']') && Number(port[1]) > 65535) throw invalid(at, 'must have a port from 0 to 65535');
  return v;
}

/** One model of an `advertise`, checked field by field. */
export function parseModelAdvert(v: unknown, at: string): ModelAdvert {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw invalid(at, 'must be an object');
  const m = v as Raw;
  const nameProblem = modelNameProblem(m.name);
  if (nameProblem !== undefined) throw invalid(`${at}.name`, nameProblem);
  if (typeof m.digest !== 'string' || !DIGEST_PATTERN.test(m.digest)) {
    throw invalid(`${at}.digest`, 'must be 1 to 128 letters, digits, ":", ".", "_" or "-"');
  }
  const model: ModelAdvert = { name: m.name as string, digest: m.digest };
  if (m.size !== undefined) {
    if (typeof m.size !== 'number' || !Number.isSafeInteger(m.size) || m.size < 0)
      throw invalid(`${at}.size`, 'must be a whole number of bytes');
    model.size = m.size;
  }
  if (m.modifiedAt !== undefined) {
    if (typeof m.modifiedAt !== 'string' || m.modifiedAt.length > 64 || !isPrintable(m.modifiedAt)) {
      throw invalid(`${at}.modifiedAt`, 'must be a printable string of at most 64 characters');
    }
    model.modifiedAt = m.modifiedAt;
  }
  if (m.details !== undefined) model.details = parseDetails(m.details, `${at}.details`);
  return model;
}

/** `details`: an object whose known fields are short printable strings or short lists of them. */
function parseDetails(v: unknown, at: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw invalid(at, 'must be an object');
  const details = v as Raw;
  const out: Record<string, unknown> = {};
  for (const key of DETAIL_FIELDS) {
    const field = details[key];
    if (field === undefined) continue;
    if (printable(field, MAX_DETAIL_CHARS)) out[key] = field;
    else if (Array.isArray(field) && field.length <= MAX_DETAIL_LIST && field.every((s) => printable(s, MAX_DETAIL_ITEM_CHARS)))
      out[key] = field;
    else
      throw invalid(
        `${at}.${key}`,
        `must be a printable string of at most ${MAX_DETAIL_CHARS} characters, or a list of at most ${MAX_DETAIL_LIST}`,
      );
  }
  return out;
}

function printable(v: unknown, max: number): v is string {
  return typeof v === 'string' && v.length <= max && isPrintable(v);
}
