/**
 * Reading the two APIs whose streams are typed SSE events: OpenAI's Responses API (`/v1/responses`,
 * `{"type":"response.output_text.delta",...}` ... `response.completed` with the usage) and
 * Anthropic's Messages API (`/v1/messages`, `message_start` with the input tokens ...
 * `message_delta` with the stop reason and output tokens, then `message_stop`). Both report usage
 * as `input_tokens` and `output_tokens`; a whole answer carries the same `usage` object.
 */

/** What one event (or one whole answer) of these APIs carries. */
export interface EventFrame {
  /**
   * Where the event stands in the answer: `finish` says the answer is finishing (Anthropic's
   * `message_delta` with a stop reason), `last` that it is over (`response.completed`,
   * `response.incomplete`, `message_stop`, a whole answer), `none` anything else.
   */
  step: 'none' | 'finish' | 'last';
  inputTokens: number | undefined;
  outputTokens: number | undefined;
  finishReason: string | undefined;
  contentChars: number;
  contentBytes: number;
  /** The part of contentChars that is tool-call arguments. */
  toolCallChars: number;
  /** The error the node said, in-band (`error`, `response.failed`) or as the answer. */
  error: string | undefined;
}

type Json = Record<string, unknown>;

const obj = (v: unknown): Json | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined);
const count = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.floor(v) : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

function frame(step: EventFrame['step'] = 'none'): EventFrame {
  return {
    step,
    inputTokens: undefined,
    outputTokens: undefined,
    finishReason: undefined,
    contentChars: 0,
    contentBytes: 0,
    toolCallChars: 0,
    error: undefined,
  };
}

function addText(f: EventFrame, text: unknown, tool = false): void {
  if (typeof text !== 'string' || text === '') return;
  f.contentChars += text.length;
  f.contentBytes += Buffer.byteLength(text, 'utf8');
  if (tool) f.toolCallChars += text.length;
}

function addUsage(f: EventFrame, usage: unknown): void {
  const u = obj(usage);
  if (u === undefined) return;
  f.inputTokens = count(u.input_tokens) ?? f.inputTokens;
  f.outputTokens = count(u.output_tokens) ?? f.outputTokens;
}

function errorText(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  const o = obj(v);
  return typeof o?.message === 'string' ? o.message : JSON.stringify(v);
}

/** The usage, status and output of a Responses object (`response` of an event, or a whole answer). */
function readResponse(f: EventFrame, response: Json, withOutput: boolean): void {
  addUsage(f, response.usage);
  const status = str(response.status);
  f.finishReason = status === 'incomplete' ? (str(obj(response.incomplete_details)?.reason) ?? status) : status;
  if (status === 'failed') f.error = errorText(response.error) ?? 'the response failed';
  if (!withOutput || !Array.isArray(response.output)) return;
  for (const item of response.output) {
    const o = obj(item);
    if (o === undefined) continue;
    addText(f, o.arguments, true);
    if (Array.isArray(o.content)) for (const part of o.content) addText(f, obj(part)?.text);
  }
}

/** One event of a Responses API stream. */
export function readResponsesEvent(o: Json): EventFrame {
  const type = str(o.type);
  const f = frame();
  if (type === 'response.output_text.delta' || type === 'response.reasoning_text.delta') addText(f, o.delta);
  else if (type === 'response.function_call_arguments.delta') addText(f, o.delta, true);
  else if (type === 'response.completed' || type === 'response.incomplete' || type === 'response.failed') {
    f.step = 'last';
    readResponse(f, obj(o.response) ?? {}, false);
  } else if (type === 'error') f.error = errorText(o.message) ?? errorText(o.error) ?? 'error';
  if (o.error !== undefined && o.error !== null && type !== 'response.failed') f.error ??= errorText(o.error);
  return f;
}

/** One event of an Anthropic Messages stream. */
export function readMessagesEvent(o: Json): EventFrame {
  const type = str(o.type);
  const f = frame();
  if (type === 'message_start') addUsage(f, obj(o.message)?.usage);
  else if (type === 'content_block_delta') {
    const d = obj(o.delta);
    addText(f, d?.text ?? d?.thinking);
    addText(f, d?.partial_json, true);
  } else if (type === 'message_delta') {
    addUsage(f, o.usage);
    f.finishReason = str(obj(o.delta)?.stop_reason);
    if (f.finishReason !== undefined) f.step = 'finish';
  } else if (type === 'message_stop') f.step = 'last';
  else if (type === 'error') f.error = errorText(o.error) ?? 'error';
  return f;
}

/** A whole (non-streamed) answer of `/v1/responses` or `/v1/messages`. */
export function readEventsObject(kind: 'responses' | 'messages', o: Json): EventFrame {
  const f = frame('last');
  if (o.error !== undefined && o.error !== null) f.error = errorText(o.error);
  if (kind === 'responses') {
    readResponse(f, o, true);
    return f;
  }
  addUsage(f, o.usage);
  f.finishReason = str(o.stop_reason);
  if (Array.isArray(o.content)) {
    for (const block of o.content) {
      const b = obj(block);
      addText(f, b?.text ?? b?.thinking);
      if (b?.type === 'tool_use') addText(f, JSON.stringify(b.input ?? {}), true);
    }
  }
  return f;
}
