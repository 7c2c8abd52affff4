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
  error: string | undefined;
}

type Json = Record<string, unknown>;

const obj = (v: unknown): Json | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined);
const chars = (v: unknown): number => (typeof v === 'string' ? v.length : 0);
const count = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.floor(v) : 0);

function errorText(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  const o = obj(v);
  return typeof o?.message === 'string' ? o.message : JSON.stringify(v);
}

function toolArgsChars(calls: unknown): number {
  if (!Array.isArray(calls)) return 0;
  let n = 0;
  for (const c of calls) {
    const fn = obj(obj(c)?.function);
    n += chars(fn?.name) + (typeof fn?.arguments === 'string' ? fn.arguments.length : fn?.arguments ? JSON.stringify(fn.arguments).length : 0);
  }
  return n;
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
  let contentChars = 0;
  const choices = Array.isArray(o.choices) ? o.choices : [];
  for (const c of choices) {
    const choice = obj(c);
    if (choice === undefined) continue;
    if (finishReason === undefined && typeof choice.finish_reason === 'string') finishReason = choice.finish_reason;
    const part = obj(choice.delta) ?? obj(choice.message);
    contentChars += chars(choice.text) + chars(part?.content) + chars(part?.reasoning) + chars(part?.reasoning_content) +
      toolArgsChars(part?.tool_calls);
  }
  const u = obj(o.usage);
  const usage = u ? { promptTokens: count(u.prompt_tokens), completionTokens: count(u.completion_tokens) } : undefined;
  return { finishReason, usage, contentChars, usageOnly: choices.length === 0 && usage !== undefined, error: errorText(o.error) };
}

/** Reads an Ollama /api/chat or /api/generate object. */
export function readOllamaFrame(o: Json): OllamaFrame {
  const message = obj(o.message);
  return {
    done: o.done === true,
    doneReason: typeof o.done_reason === 'string' ? o.done_reason : undefined,
    promptEvalCount: count(o.prompt_eval_count),
    evalCount: count(o.eval_count),
    evalDurationNs: count(o.eval_duration),
    totalDurationNs: count(o.total_duration),
    contentChars: chars(o.response) + chars(o.thinking) + chars(message?.content) + chars(message?.thinking) +
      toolArgsChars(message?.tool_calls),
    error: errorText(o.error),
  };
}
