import t from 'tap';
import { Cancel } from '../src/cancel.js';

t.test('a Cancel runs each listener once, in order, when it is aborted, and keeps the reason', async (t) => {
  const cancel = new Cancel();
  const heard: string[] = [];
  const first = (): void => void heard.push(`first ${cancel.aborted}`);
  const second = (): void => void heard.push('second');
  const removed = (): void => void heard.push('removed');
  cancel.addEventListener('abort', first);
  cancel.addEventListener('abort', first); // twice: runs once, as on an AbortSignal
  cancel.addEventListener('abort', second, { once: true });
  cancel.addEventListener('abort', removed);
  cancel.removeEventListener('abort', removed);
  t.equal(cancel.aborted, false);
  t.equal(cancel.reason, undefined);
  const reason = new Error('the user left');
  cancel.abort(reason);
  t.same(heard, ['first true', 'second']);
  t.equal(cancel.reason, reason);
  cancel.abort(new Error('again'));
  cancel.addEventListener('abort', removed); // after the abort: never runs
  t.same(heard, ['first true', 'second'], 'a second abort and a late listener do nothing');
  t.equal(cancel.reason, reason, 'the first reason stays');
});

t.test('without a reason, the reason is an AbortError, as AbortController gives', async (t) => {
  const cancel = new Cancel();
  cancel.abort();
  const controller = new AbortController();
  controller.abort();
  t.type(cancel.reason, DOMException);
  t.equal((cancel.reason as DOMException).name, (controller.signal.reason as DOMException).name);
  t.equal((cancel.reason as DOMException).name, 'AbortError');
});

t.test('a listener that throws does not stop the others; its error is thrown on its own', async (t) => {
  const cancel = new Cancel();
  const heard: string[] = [];
  cancel.addEventListener('abort', () => {
    throw new Error('a listener failed');
  });
  cancel.addEventListener('abort', () => void heard.push('after'));
  const thrown = new Promise<Error>((resolve) => {
    const listeners = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    process.once('uncaughtException', (err) => {
      for (const l of listeners) process.on('uncaughtException', l);
      resolve(err);
    });
  });
  cancel.abort(new Error('cancelled'));
  t.same(heard, ['after']);
  t.match(await thrown, { message: 'a listener failed' });
});
