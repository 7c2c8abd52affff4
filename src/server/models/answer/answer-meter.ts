/**
 * What the super node saw of one answer, for the ledger: how it finished, what usage the node
 * reported, and what content it really delivered. A node's counts are its claims; the content seen
 * here bounds them (docs/rewards.md "Credit"). A stream's observed tokens are its content-bearing chunks,
 * except that a tool call arrives whole in one chunk: it counts ceil(characters / 2).
 */
import type { EventFrame } from '../../../proto/llm/event-frames.js';
import type { OllamaFrame, OpenAiFrame } from '../../../proto/llm/frames.js';

/** Counts for the ledger, filled as frames go by. */
export class AnswerMeter {
  /** The finish reason (`stop`, `length`, `tool_calls`, ...), or null when none was seen. */
  finishReason: string | null = null;
  /** True once the answer said it was over: a finish reason, `[DONE]`, or `done: true`. */
  finished = false;
  promptTokensReported: number | null = null;
  completionTokensReported: number | null = null;
  evalDurationNs: number | null = null;
  /** Content-bearing chunks of a stream (tool calls by their size). */
  observedTokens = 0;
  contentChars = 0;
  contentBytes = 0;
  /** An in-band error the node sent, if any. */
  error: string | undefined;

  /** One OpenAI chunk of a stream, or a whole non-streamed answer. */
  openai(frame: OpenAiFrame): void {
    this.#content(frame);
    if (frame.finishReason !== undefined) {
      this.finishReason ??= frame.finishReason;
      this.finished = true;
    }
    // Ollama's /v1/completions puts a zero usage on every chunk: the last one seen is the real one.
    if (frame.usage !== undefined) {
      this.promptTokensReported = frame.usage.promptTokens;
      this.completionTokensReported = frame.usage.completionTokens;
    }
    this.error ??= frame.error;
  }

  /** One native Ollama object: a line of a stream, or a whole answer. */
  ollama(frame: OllamaFrame): void {
    this.#content(frame);
    this.error ??= frame.error;
    if (!frame.done) return;
    this.finished = true;
    this.finishReason ??= frame.doneReason ?? null;
    // Counters are omitempty: on the final object, absent means 0.
    this.promptTokensReported = frame.promptEvalCount;
    this.completionTokensReported = frame.evalCount;
    this.evalDurationNs = frame.evalDurationNs > 0 ? frame.evalDurationNs : null;
  }

  /**
   * One event of a Responses or Messages stream, or a whole answer of either: usage as
   * `input_tokens` / `output_tokens`, over as its last event says.
   */
  event(frame: EventFrame): void {
    this.#content(frame);
    this.error ??= frame.error;
    if (frame.inputTokens !== undefined) this.promptTokensReported = frame.inputTokens;
    if (frame.outputTokens !== undefined) this.completionTokensReported = frame.outputTokens;
    if (frame.finishReason !== undefined) this.finishReason ??= frame.finishReason;
    if (frame.step === 'last') this.finished = true;
  }

  /** A whole embeddings answer: only prompt tokens (`usage.prompt_tokens` or `prompt_eval_count`). */
  embedding(promptTokens: number | undefined): void {
    this.finished = true;
    if (promptTokens !== undefined) {
      this.promptTokensReported = promptTokens;
      this.completionTokensReported = 0;
    }
  }

  #content(frame: OpenAiFrame | OllamaFrame | EventFrame): void {
    if (frame.contentChars === 0) return;
    this.contentChars += frame.contentChars;
    this.contentBytes += frame.contentBytes;
    const textChars = frame.contentChars - frame.toolCallChars;
    this.observedTokens += (textChars > 0 ? 1 : 0) + Math.ceil(frame.toolCallChars / 2);
  }
}
