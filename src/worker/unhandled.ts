import type { Logger } from '../types.js';

let installed = 0;
let current: Logger | null = null;
const onRejection = (reason: unknown) => {
  current?.error(
    { err: reason },
    'unhandled promise rejection (a handler left a promise unawaited); the worker keeps running',
  );
};

/**
 * A rejected promise that a handler forgot to await must not take the worker
 * process down (Node's default). While a worker runs, such rejections are
 * logged instead. Returns the function that undoes it.
 */
export function trapUnhandledRejections(logger: Logger): () => void {
  current = logger;
  if (installed++ === 0) process.on('unhandledRejection', onRejection);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (--installed === 0) process.off('unhandledRejection', onRejection);
  };
}
