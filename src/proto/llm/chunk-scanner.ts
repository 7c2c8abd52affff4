/**
 * chunk-scan.ts for one stream, without walking every chunk: a stream's chunks are one template
 * with a new text in it (the same id, created, model and keys; only the token differs). After a
 * chunk is walked, the bytes before its last text string and after it are kept; a next chunk made
 * of the same bytes around a JSON string reads as that chunk did with the new string measured,
 * checked by two compares and a measure of the token instead of a walk of a few hundred bytes.
 *
 * Why that is exact: the walk decides only by bytes, so identical bytes up to the string's quote
 * leave it in the same place (a TEXT value, same depth, same keys seen); any valid string there
 * is read the same way but for its counts; the identical bytes after it then walk the same path to
 * the same end. What it returns is what chunk-scan.ts returns (a test compares them on streams).
 * The bytes must be valid UTF-8, as for chunk-scan.ts (the caller checks).
 */
import { CHUNK, LINE, measured, measureString, read, walk } from './chunk-scan.js';
import { type OllamaFrame, type OpenAiFrame, plainOllamaFrame, plainOpenAiFrame } from './frames.js';

const QUOTE = 0x22;

/**
 * `view` holds the bytes of `template` at `at` (the caller checked the length). Four bytes a step
 * through DataViews: for the ~170 bytes of a chunk's start, 44 ns against 80 for Buffer.compare
 * (whose native call costs more than its memcmp) and 149 for a loop of bytes (on this machine).
 */
function same(view: DataView, at: number, template: DataView): boolean {
  const n = template.byteLength;
  let k = 0;
  for (; k + 4 <= n; k += 4) if (view.getUint32(at + k) !== template.getUint32(k)) return false;
  for (; k < n; k++) if (view.getUint8(at + k) !== template.getUint8(k)) return false;
  return true;
}

const viewOf = (b: Buffer): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** Scans the chunks (OpenAI's) or lines (Ollama's) of one stream, in order. */
export class ChunkScanner {
  /** The bytes before and after the template's text string; none before a chunk has been walked. */
  #before: DataView | undefined;
  #after: DataView = viewOf(Buffer.alloc(0));
  /** The chunk scanned last, and a view of it (one per read, not per chunk scanned). */
  #chunk: Buffer | undefined;
  #view: DataView | undefined;
  /** What the template read outside its text string. */
  #chars = 0;
  #bytes = 0;
  #finishReason: string | undefined;
  /** Chunks read by the template (not walked): for tests and profiles. */
  reused = 0;
  /** What the last scan read. */
  #got = { chars: 0, bytes: 0, finishReason: undefined as string | undefined };
  /**
   * The frames the scans return: one of each per scanner, filled anew by every scan (a new one per
   * token was most of what the relay allocated per token). A frame is the caller's until its next scan.
   */
  readonly #openAiFrame = plainOpenAiFrame(0, 0, undefined);
  readonly #ollamaFrame = plainOllamaFrame(0, 0);

  /** As scanOpenAiChunk; the frame is valid until the next scan. */
  openAi(b: Buffer, start: number, end: number): OpenAiFrame | undefined {
    if (!this.#scan(b, start, end, CHUNK)) return undefined;
    const frame = this.#openAiFrame;
    frame.contentChars = this.#got.chars;
    frame.contentBytes = this.#got.bytes;
    frame.finishReason = this.#got.finishReason;
    return frame;
  }

  /** As scanOllamaLine; the frame is valid until the next scan. */
  ollama(b: Buffer, start: number, end: number): OllamaFrame | undefined {
    if (!this.#scan(b, start, end, LINE)) return undefined;
    const frame = this.#ollamaFrame;
    frame.contentChars = this.#got.chars;
    frame.contentBytes = this.#got.bytes;
    return frame;
  }

  #scan(b: Buffer, start: number, end: number, top: number): boolean {
    const got = this.#got;
    const before = this.#before;
    if (before !== undefined) {
      const after = this.#after;
      const quote = start + before.byteLength;
      const close = end - after.byteLength;
      if (this.#chunk !== b) {
        this.#chunk = b;
        this.#view = viewOf(b);
      }
      const view = this.#view!;
      if (
        close - quote >= 2 &&
        b[quote] === QUOTE &&
        same(view, start, before) &&
        measureString(b, quote, close) === close &&
        same(view, close, after)
      ) {
        got.chars = this.#chars + measured.chars;
        got.bytes = this.#bytes + measured.bytes;
        got.finishReason = this.#finishReason;
        this.reused++;
        return true;
      }
    }
    if (!walk(b, start, end, top)) return false;
    got.chars = read.chars;
    got.bytes = read.bytes;
    got.finishReason = read.finishReason;
    if (read.textAt < 0) {
      this.#before = undefined;
      return true;
    }
    // Copies (a few hundred bytes, once per template): the chunk they come from is not kept.
    this.#before = viewOf(Buffer.from(b.subarray(start, read.textAt)));
    this.#after = viewOf(Buffer.from(b.subarray(read.textEnd, end)));
    this.#chars = read.chars - read.textChars;
    this.#bytes = read.bytes - read.textBytes;
    this.#finishReason = read.finishReason;
    return true;
  }
}
