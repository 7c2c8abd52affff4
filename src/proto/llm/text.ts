/**
 * The generated text of a whole OpenAI or Ollama answer (one JSON, an SSE stream or an NDJSON
 * stream, as the node sent it), and the completion tokens the node reported for it: what a canary
 * compares between two nodes. Pure.
 */
import { NdjsonSplitter } from './ndjson.js';
import { SseParser } from './sse.js';

/** An answer's text and reported count (null when the node reported none). */
export interface AnswerText {
  text: string;
  completionTokens: number | null;
}

type Json = Record<string, unknown>;

const obj = (v: unknown): Json | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const count = (v: unknown): number | null => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : null);

/** Reads `body`, an answer of the `surface` API, streamed or not. Frames that do not parse are passed over. */
export function answerText(surface: 'openai' | 'ollama', stream: boolean, body: Buffer): AnswerText {
  const out: AnswerText = { text: '', completionTokens: null };
  const take = surface === 'openai' ? openAiFrame : ollamaFrame;
  for (const frame of frames(surface, stream, body)) take(frame, out);
  return out;
}

function frames(surface: 'openai' | 'ollama', stream: boolean, body: Buffer): Json[] {
  let texts: string[];
  if (!stream) texts = [body.toString('utf8')];
  else if (surface === 'openai') {
    texts = new SseParser().push(body).flatMap((item) => (item.kind === 'event' && item.data !== '[DONE]' ? [item.data] : []));
  } else {
    const splitter = new NdjsonSplitter();
    texts = splitter.push(body);
    const last = splitter.end();
    if (last !== undefined) texts.push(last);
  }
  return texts.flatMap((t) => {
    try {
      const o = obj(JSON.parse(t));
      return o === undefined ? [] : [o];
    } catch {
      return [];
    }
  });
}

function openAiFrame(o: Json, out: AnswerText): void {
  const choice = obj(Array.isArray(o.choices) ? o.choices[0] : undefined);
  const part = obj(choice?.delta) ?? obj(choice?.message);
  out.text += str(part?.content) + str(choice?.text);
  const usage = obj(o.usage);
  if (usage !== undefined) out.completionTokens = count(usage.completion_tokens);
}

function ollamaFrame(o: Json, out: AnswerText): void {
  out.text += str(obj(o.message)?.content) + str(o.response);
  if (o.done === true) out.completionTokens = count(o.eval_count) ?? 0; // omitempty: absent on the last object means 0
}
