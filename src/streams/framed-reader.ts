/**
 * Reads framed messages (the control stream's) off a stream with a decoder that keeps partial
 * input. A decoder error means the framing is lost, so nothing after it can be read: reading stops
 * and the error goes to `onBroken`.
 */
import type { Readable } from 'node:stream';

/** Turns chunks into whole messages; the control codec's MessageDecoder fits. */
export interface MessageSource<T> {
  push(chunk: Buffer): T[];
}

/** Calls `onMessage` for each message, in order, as its last byte arrives. */
export function readFramed<T>(
  stream: Readable,
  decoder: MessageSource<T>,
  onMessage: (message: T) => void,
  onBroken: (err: Error) => void,
): void {
  const onData = (chunk: Buffer): void => {
    let messages: T[];
    try {
      messages = decoder.push(chunk);
    } catch (err) {
      stream.off('data', onData);
      onBroken(err as Error);
      return;
    }
    for (const message of messages) onMessage(message);
  };
  stream.on('data', onData);
}
