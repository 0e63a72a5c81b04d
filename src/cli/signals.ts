/** Graceful shutdown on SIGINT/SIGTERM for the long-running commands. */
import { constants } from 'node:os';

/**
 * A repeat within this window is the same Ctrl-C arriving twice: a terminal
 * signals the whole process group, and `npm start` and tsx also relay the
 * signal to their child.
 */
const SAME_SIGNAL_MS = 500;

/**
 * Returns a signal that aborts on the first SIGINT or SIGTERM, so the command
 * can stop gracefully. A second one (after the relay window) exits at once,
 * with 128 + the signal number.
 */
export function trapShutdown(what: string): AbortSignal {
  const controller = new AbortController();
  let first = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    const now = Date.now();
    if (first === 0) {
      first = now;
      process.stderr.write(
        `\ntandem: ${signal} received; ${what} (press Ctrl-C again to exit at once)\n`,
      );
      controller.abort(signal);
      return;
    }
    if (now - first < SAME_SIGNAL_MS) return;
    process.stderr.write(`tandem: ${signal} received again; exiting at once\n`);
    process.exit(128 + (constants.signals[signal] ?? 1));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return controller.signal;
}

/** Resolves when `signal` aborts (at once if it already has). Keeps the process alive until then. */
export function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const keepAlive = setInterval(() => {}, 1 << 30);
    signal.addEventListener(
      'abort',
      () => {
        clearInterval(keepAlive);
        resolve();
      },
      { once: true },
    );
  });
}
