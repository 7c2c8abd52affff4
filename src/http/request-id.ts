/**
 * Request ids: what ties a user's answer or error page to the log lines about it, on the super node
 * and on the node. They look like OpenAI's: `req_` and 32 hex characters.
 */
import { randomUUID } from 'node:crypto';

/** The header that carries a request's id, both to the user and to the node. */
export const REQUEST_ID_HEADER = 'x-request-id';

/** A new id: a random UUID's hex digits (drawn from Node's cached pool), after `req_`. */
export function newRequestId(): string {
  return `req_${randomUUID().replaceAll('-', '')}`;
}

/** The id a request came with, when it is one of ours (anything else is not trusted into a log). */
export function requestIdOf(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' && /^req_[0-9a-f]{32}$/.test(value) ? value : undefined;
}
