/**
 * Reading what a model server sends: OpenAI-style chunks and completions (Ollama's /v1 layer)
 * and Ollama's native objects. The super node uses these to know whether an answer finished,
 * what usage the node reports, and how much content it actually delivered.
 */

/** What one OpenAI chunk (SSE `data:`) or non-streamed completion carries. */
export interface OpenAiFrame {
  /** The first non-null finish_reason among its choices. */
  finishReason: string | undefined;
  usage: { promptTokens: number; completionTokens: number } | undefined;
  /** Characters of generated text: content, reasoning, completion text, tool-call arguments. */
  contentChars: number;
  /** UTF-8 bytes of the same text. */
  contentBytes: number;
  /** The part of contentChars that is tool calls (names and arguments, sent whole in one chunk). */
  toolCallChars: number;
  /** True for the `choices: []` chunk that carries only usage (stream_options.include_usage). */
  usageOnly: boolean;
  /** An in-band error, e.g. `data: {"error": {...}}`. */
  error: string | undefined;
}

/** What one Ollama native object (an NDJSON line, or a non-streamed answer) carries. */
export interface OllamaFrame {
  done: boolean;
  doneReason: string | undefined;
  /** Counters are omitempty in Ollama: absent means 0. */
  promptEvalCount: number;
  evalCount: number;
  evalDurationNs: number;
  totalDurationNs: number;
  contentChars: number;
  contentBytes: number;
  toolCallChars: number;
  error: string | undefined;
}

type Json = Record<string, unknown>;

const obj = (v: unknown): Json | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined);
/** Characters and UTF-8 bytes of the strings among `values`. */
class TextSize {
  chars = 0;
  bytes = 0;

  add(...values: unknown[]): this {
    for (const v of values) {
      if (typeof v !== 'string' || v === '') continue;
      this.chars += v.length;
      this.bytes += Buffer.byteLength(v, 'utf8');
    }
    return this;
  }
}
const count = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.floor(v) : 0);

function errorText(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  const o = obj(v);
  return typeof o?.message === 'string' ? o.message : JSON.stringify(v);
}

/** The names and arguments of tool calls (arguments as sent: a JSON string on /v1, an object natively). */
function toolCallsSize(calls: unknown): TextSize {
  const size = new TextSize();
  if (!Array.isArray(calls)) return size;
  for (const c of calls) {
    const fn = obj(obj(c)?.function);
    const args = fn?.arguments;
    size.add(fn?.name, typeof args === 'string' || args === undefined || args === null ? args : JSON.stringify(args));
  }
  return size;
}

/** Parses JSON text into an object, or undefined when it is not one. */
export function parseJsonObject(text: string): Json | undefined {
  try {
    return obj(JSON.parse(text));
  } catch {
    return undefined;
  }
}

/** Reads an OpenAI chat/completions chunk or completion object. */
export function readOpenAiFrame(o: Json): OpenAiFrame {
  let finishReason: string | undefined;
  const text = new TextSize();
  let toolCallChars = 0;
  const choices = Array.isArray(o.choices) ? o.choices : [];
  for (const c of choices) {
    const choice = obj(c);
    if (choice === undefined) continue;
    if (finishReason === undefined && typeof choice.finish_reason === 'string') finishReason = choice.finish_reason;
    const part = obj(choice.delta) ?? obj(choice.message);
    text.add(choice.text, part?.content, part?.reasoning, part?.reasoning_content);
    const tools = toolCallsSize(part?.tool_calls);
    text.chars += tools.chars;
    text.bytes += tools.bytes;
    toolCallChars += tools.chars;
  }
  const u = obj(o.usage);
  const usage = u ? { promptTokens: count(u.prompt_tokens), completionTokens: count(u.completion_tokens) } : undefined;
  return {
    finishReason,
    usage,
    contentChars: text.chars,
    contentBytes: text.bytes,
    toolCallChars,
    usageOnly: choices.length === 0 && usage !== undefined,
    error: errorText(o.error),
  };
}

/** Reads an Ollama /api/chat or /api/generate object. */
export function readOllamaFrame(o: Json): OllamaFrame {
  const message = obj(o.message);
  const text = new TextSize().add(o.response, o.thinking, message?.content, message?.thinking);
  const tools = toolCallsSize(message?.tool_calls);
  return {
    done: o.done === true,
    doneReason: typeof o.done_reason === 'string' ? o.done_reason : undefined,
    promptEvalCount: count(o.prompt_eval_count),
    evalCount: count(o.eval_count),
    evalDurationNs: count(o.eval_duration),
    totalDurationNs: count(o.total_duration),
    contentChars: text.chars + tools.chars,
    contentBytes: text.bytes + tools.bytes,
    toolCallChars: tools.chars,
    error: errorText(o.error),
  };
}

/** The frame of a plain OpenAI chunk that read `chars` (`bytes`) of content and `finishReason`. */
export function plainOpenAiFrame(chars: number, bytes: number, finishReason: string | undefined): OpenAiFrame {
  return { finishReason, usage: undefined, contentChars: chars, contentBytes: bytes, toolCallChars: 0, usageOnly: false, error: undefined };
}

/** The frame of a plain Ollama line (not the last) that read `chars` (`bytes`) of content. */
export function plainOllamaFrame(chars: number, bytes: number): OllamaFrame {
  return {
    done: false,
    doneReason: undefined,
    promptEvalCount: 0,
    evalCount: 0,
    evalDurationNs: 0,
    totalDurationNs: 0,
    contentChars: chars,
    contentBytes: bytes,
    toolCallChars: 0,
    error: undefined,
  };
}
