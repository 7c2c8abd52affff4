/**
 * The relay of a typed-event SSE stream: the Responses API's (`event: response.output_text.delta`
 * ... `event: response.completed`) and Anthropic's Messages (`message_start` ... `message_delta`,
 * `message_stop`). Every event passes as the node sent it, read on the way for the ledger; the
 * tail is held for the usage record like the other streams' (answer-relays.ts): from Anthropic's
 * `message_delta` that carries the stop reason, or from the Responses API's `response.completed`.
 * The answer is complete once its last event (`response.completed`/`incomplete`, `message_stop`)
 * has come and no error.
 */
import { type EventFrame, readMessagesEvent, readResponsesEvent } from '../../../proto/llm/event-frames.js';
import { parseJsonObject } from '../../../proto/llm/frames.js';
import { SseParser } from '../../../proto/llm/sse.js';
import { AnswerMeter } from './answer-meter.js';
import { HeldTail } from './held-tail.js';

type Json = Record<string, unknown>;

/** A stream of `/v1/responses` or `/v1/messages`. */
export class EventRelay {
  readonly meter = new AnswerMeter();
  readonly #parser = new SseParser();
  readonly #read: (json: Json) => EventFrame;
  #finishing = false;
  #over = false;
  /** The tail: every event from the one that finished the answer on. */
  readonly #held = new HeldTail();

  constructor(kind: 'responses' | 'messages') {
    this.#read = kind === 'responses' ? readResponsesEvent : readMessagesEvent;
  }

  get complete(): boolean {
    return this.#over && this.meter.error === undefined;
  }

  push(chunk: Buffer): Buffer {
    const out: string[] = [];
    for (const item of this.#parser.push(chunk)) {
      if (item.kind === 'comment') continue; // the node's own keep-alives are the node's business
      const json = parseJsonObject(item.data);
      if (json !== undefined) {
        const frame = this.#read(json);
        this.meter.event(frame);
        if (frame.step !== 'none') this.#finishing = true;
        if (frame.step === 'last') this.#over = true;
      }
      const lines = item.data.split('\n').map((line) => `data: ${line}\n`);
      const event = `${item.event === undefined ? '' : `event: ${item.event}\n`}${lines.join('')}\n`;
      if (this.#finishing) this.#held.push(event);
      else out.push(event);
    }
    return out.length === 0 ? Buffer.alloc(0) : Buffer.from(out.join(''), 'utf8');
  }

  end(): Buffer {
    return this.#held.take();
  }
}
