/**
 * Request ids: what ties a user's answer or error page to the log lines about it, on the super node
 * and on the node. They look like OpenAI's: `req_` and 32 hex characters.
 */
import { randomBytes } from 'node:crypto';

/** The header that carries a request's id, both to the user and to the node. */
export const REQUEST_ID_HEADER = 'x-request-id';

/** Ids drawn from one call to the system's random source. */
const IDS_PER_DRAW = 256;
const ID_BYTES = 16;
let random = Buffer.alloc(0);
let used = 0;

/**
 * A new id: 16 random bytes in hex, after `req_`. The bytes come from a pool drawn IDS_PER_DRAW ids
 * at a time (as randomUUID draws its own), and go out as hex without a UUID's dashes to take out.
 */
export function newRequestId(): string {
  if (used === random.length) {
    random = randomBytes(ID_BYTES * IDS_PER_DRAW);
    used = 0;
  }
  used += ID_BYTES;
  return `req_${random.toString('hex', used - ID_BYTES, used)}`;
}

/** The id a request came with, when it is one of ours (anything else is not trusted into a log). */
export function requestIdOf(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' && /^req_[0-9a-f]{32}$/.test(value) ? value : undefined;
}
