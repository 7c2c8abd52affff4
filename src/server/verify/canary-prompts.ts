/**
 * What a canary asks: an ordinary-looking prompt from a fixed pool, sent as a deterministic request
 * (temperature 0, a fixed seed, a few tokens) in the shape of the route the user used, so that a
 * node sees nothing it could tell apart from its users' requests by path or form.
 */

/** One prompt of the pool, with the seed it is always sent with. */
export interface CanaryPrompt {
  text: string;
  seed: number;
}

/** The pool: questions users ask. Each has its own seed, so canaries do not all carry one number. */
export const CANARY_PROMPTS: readonly CanaryPrompt[] = [
  { text: 'What is the capital of Australia, and why was it chosen?', seed: 7 },
  { text: 'Explain in two sentences how a refrigerator keeps food cold.', seed: 42 },
  { text: 'Write a short haiku about autumn rain.', seed: 1234 },
  { text: 'What does the Python keyword "yield" do?', seed: 99 },
  { text: 'Give me three tips for a job interview.', seed: 2024 },
  { text: 'How many minutes are there in a week?', seed: 314 },
  { text: 'Summarise the plot of Romeo and Juliet in one paragraph.', seed: 8 },
  { text: 'What is the difference between weather and climate?', seed: 555 },
  { text: 'Suggest a name for a small bakery by the sea.', seed: 21 },
  { text: 'Why is the sky blue?', seed: 77 },
  { text: 'Translate "good morning, how are you?" into Spanish.', seed: 1001 },
  { text: 'Write a SQL query that counts the rows of a table named orders.', seed: 64 },
];

/** The routes a canary can take: those that generate text. */
export type CanaryRoute = '/v1/chat/completions' | '/v1/completions' | '/api/chat' | '/api/generate';

const ROUTES: ReadonlySet<string> = new Set(['/v1/chat/completions', '/v1/completions', '/api/chat', '/api/generate']);

/** True when a request on `route` can be followed by a canary (embeddings cannot). */
export function isCanaryRoute(route: string): route is CanaryRoute {
  return ROUTES.has(route);
}

/** The body of a canary on `route` for `model`, streamed like the user's request was. */
export function canaryBody(route: CanaryRoute, model: string, prompt: CanaryPrompt, stream: boolean, maxTokens: number): Buffer {
  const messages = [{ role: 'user', content: prompt.text }];
  let body: Record<string, unknown>;
  if (route === '/v1/chat/completions' || route === '/v1/completions') {
    body = {
      model,
      ...(route === '/v1/completions' ? { prompt: prompt.text } : { messages }),
      stream,
      ...(stream ? { stream_options: { include_usage: true } } : {}),
      temperature: 0,
      seed: prompt.seed,
      max_tokens: maxTokens,
    };
  } else {
    body = {
      model,
      ...(route === '/api/generate' ? { prompt: prompt.text } : { messages }),
      stream,
      options: { temperature: 0, seed: prompt.seed, num_predict: maxTokens },
    };
  }
  return Buffer.from(JSON.stringify(body), 'utf8');
}
