/**
 * Errors of the HTTP/1.1 wire code carry the status the proxy answers with: 400 or 431 for a
 * request the public listener refuses, 502 for a response a node sent that cannot be relayed safely.
 */
import { ErrorCodes, ProximaError, type ErrorCode } from '../../errors.js';

/** A ProximaError with the HTTP status to answer (when nothing has been answered yet). */
export class HttpError extends ProximaError {
  /** 400, 431 for requests; 502 for responses from a node. */
  readonly status: number;

  constructor(code: ErrorCode, status: number, message: string) {
    super(code, message);
    this.status = status;
  }
}

/** Which message a parser reads: the codes and statuses differ between the two. */
export interface HttpSide {
  /** A start line or field line that does not parse. */
  syntax(message: string): HttpError;
  /** Length framing that is conflicting or malformed (the smuggling family). */
  framing(message: string): HttpError;
  /** A head longer than the limit. */
  tooLarge(message: string): HttpError;
}

/** Requests from the public: 400 for syntax and framing, 431 for a head too large. */
export const REQUEST_SIDE: HttpSide = {
  syntax: (message) => new HttpError(ErrorCodes.HTTP_BAD_REQUEST, 400, message),
  framing: (message) => new HttpError(ErrorCodes.HTTP_AMBIGUOUS_FRAMING, 400, message),
  tooLarge: (message) => new HttpError(ErrorCodes.HTTP_HEAD_TOO_LARGE, 431, message),
};

/** Responses from a node: the user gets 502 whatever went wrong, the code says what it was. */
export const RESPONSE_SIDE: HttpSide = {
  syntax: (message) => new HttpError(ErrorCodes.HTTP_BAD_RESPONSE, 502, message),
  framing: (message) => new HttpError(ErrorCodes.HTTP_AMBIGUOUS_FRAMING, 502, message),
  tooLarge: (message) => new HttpError(ErrorCodes.HTTP_HEAD_TOO_LARGE, 502, message),
};
