/**
 * undici (the HTTP client), loaded when it is first needed rather than when a program starts.
 *
 * Loading it costs a process about 17 MiB of resident memory (10–11 MiB of heap and compiled code,
 * 7–8 of the Node binary's pages it touches; measured with RssAnon/RssFile after `require`) and
 * about 45 ms. Only the model API (a node sharing Ollama models), the node's Ollama guard and
 * `proxima-client register` use it: a super node or a node that only tunnels web services never
 * pays for it. undici is a CommonJS package, so it loads synchronously through `createRequire`.
 */
import { createRequire } from 'node:module';

type Undici = typeof import('undici');

let loaded: Undici | undefined;

/** The undici module, loaded on the first call. */
export function undici(): Undici {
  return (loaded ??= createRequire(import.meta.url)('undici') as Undici);
}

/** Loads undici on the next turn of the event loop, off the path of the request that will use it. */
export function preloadUndici(): void {
  if (loaded === undefined) setImmediate(undici).unref();
}
