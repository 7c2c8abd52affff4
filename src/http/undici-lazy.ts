/**
 * undici (the HTTP client), loaded when it is first needed rather than when a program starts.
 *
 * Loading it costs a process about 17 MiB of resident memory (10–11 MiB of heap and compiled code,
 * 7–8 of the Node binary's pages it touches; measured with RssAnon/RssFile after `require`) and
 * about 45 ms. Only `proxima-client register` uses it: the super node talks to nodes with its own
 * HTTP/1.1 client (h1-pool.ts), the node to its Ollama with node:http. undici is a CommonJS
 * package, so it loads synchronously through `createRequire`.
 */
import { createRequire } from 'node:module';

type Undici = typeof import('undici');

let loaded: Undici | undefined;

/** The undici module, loaded on the first call. */
export function undici(): Undici {
  return (loaded ??= createRequire(import.meta.url)('undici') as Undici);
}
