import { type ErrorCode, ErrorCodes, ProximaError, type ProximaErrorOptions } from '../errors.js';
import { GoAwayCode } from './frame.js';

/** A multiplexer error. `goAwayCode` is set when the error must end the session with that GoAway. */
export class MuxError extends ProximaError {
  readonly goAwayCode: GoAwayCode | undefined;

  constructor(code: ErrorCode, message: string, options: ProximaErrorOptions & { goAwayCode?: GoAwayCode } = {}) {
    super(code, message, options);
    this.goAwayCode = options.goAwayCode;
  }
}

/** A violation by the peer: the session answers with GoAway(protocol error) and closes. */
export function protocolError(code: ErrorCode, message: string): MuxError {
  return new MuxError(code, message, { goAwayCode: GoAwayCode.ProtocolError });
}

/** The error every stream of a session sees when the session ends abnormally. */
export function sessionEnded(code: ErrorCode, message: string, cause?: unknown): MuxError {
  return new MuxError(code, message, { cause });
}

export { ErrorCodes };
