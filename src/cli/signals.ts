/**
 * SIGTERM and SIGINT for the long-running commands: the first asks for a graceful stop (drain),
 * a second one for an immediate one, for an operator who will not wait.
 */

/** Calls `drain` on the first SIGTERM or SIGINT and `now` on the next; returns a function that stops listening. */
export function onStopSignals(drain: (signal: NodeJS.Signals) => void, now: (signal: NodeJS.Signals) => void): () => void {
  let count = 0;
  const handler = (signal: NodeJS.Signals): void => {
    count++;
    if (count === 1) drain(signal);
    else now(signal);
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
  return () => {
    process.off('SIGTERM', handler);
    process.off('SIGINT', handler);
  };
}
