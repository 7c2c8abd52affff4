/**
 * What identifies a conversation in a request body, for prompt-cache affinity: Ollama reuses its
 * cache for a prompt that begins like the previous one on the same runner, and every turn of a
 * conversation begins like the first. So a chat is known by its messages up to the first user
 * message (the system prompt and the question that opened it); a prompt (`/api/generate`,
 * `/v1/completions`) by its prefixes of 64, 256, 1,024 and 4,096 characters, the longest first, so a
 * longer follow-up still finds the prefix its predecessor was remembered under.
 */
import { createHash } from 'node:crypto';

/** Prefix lengths of a prompt, longest first. */
export const PROMPT_PREFIX_CHARS = [4096, 1024, 256, 64] as const;

/** The most characters of a chat's opening messages hashed (an image can be megabytes of base64). */
const MAX_OPENING_CHARS = 64 * 1024;

type Json = Record<string, unknown>;

const hash = (text: string): string => createHash('sha256').update(text, 'utf8').digest('base64url').slice(0, 22);

/**
 * The conversation keys of a parsed body: one for a chat, one per prefix length the prompt reaches
 * for a prompt (the whole prompt when shorter than all), longest first; none when there is no text.
 */
export function conversationKeys(json: Json, kind: 'chat' | 'prompt'): string[] {
  if (kind === 'chat') {
    if (!Array.isArray(json.messages) || json.messages.length === 0) return [];
    const firstUser = json.messages.findIndex((m) => (m as Json | null)?.role === 'user');
    const opening = JSON.stringify(json.messages.slice(0, firstUser < 0 ? json.messages.length : firstUser + 1));
    return [`c:${hash(opening.slice(0, MAX_OPENING_CHARS))}`];
  }
  const prompt = typeof json.prompt === 'string' ? json.prompt : Array.isArray(json.prompt) ? JSON.stringify(json.prompt) : '';
  const text = `${typeof json.system === 'string' ? json.system : ''}\0${prompt}`;
  if (prompt === '') return [];
  const reached = PROMPT_PREFIX_CHARS.filter((n) => text.length >= n);
  if (reached.length === 0) return [`p:${hash(text)}`];
  return reached.map((n) => `p${n}:${hash(text.slice(0, n))}`);
}
