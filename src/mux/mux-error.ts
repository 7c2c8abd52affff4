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

/** A failure while handling a frame, as the error that ends the session (a bug of ours: internal error). */
export function asMuxError(err: unknown): MuxError {
  if (err instanceof MuxError) return err;
  return new MuxError(ErrorCodes.MUX_PROTOCOL, 'internal error while handling a frame', {
    cause: err,
    goAwayCode: GoAwayCode.InternalError,
  });
}

/** The GoAway a session destroyed with `err` sends: the error's own code, normal without an error, else internal error. */
export function goAwayCodeFor(err: Error | undefined): GoAwayCode {
  if (err instanceof MuxError && err.goAwayCode !== undefined) return err.goAwayCode;
  return err === undefined ? GoAwayCode.Normal : GoAwayCode.InternalError;
}

/** The error a session ends with when the peer's GoAway carries `code` (anything but normal). */
export function remoteGoAway(code: number): MuxError {
  const what = code === GoAwayCode.ProtocolError ? 'protocol error' : code === GoAwayCode.InternalError ? 'internal error' : `code ${code}`;
  return new MuxError(ErrorCodes.MUX_REMOTE_GOAWAY, `peer ended the session: GoAway ${what}`);
}

export { ErrorCodes };
