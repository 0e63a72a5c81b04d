import { type AttemptOutcome, failedOutcome } from './outcome.js';
import type { TaskMiddleware } from './task.js';

/** One finished attempt, as `onTaskFinished` reports it. */
export interface TaskFinished {
  id: string;
  name: string;
  queue: string;
  /** 1 for the first run. */
  attempt: number;
  maxAttempts: number;
  /** Time in the handler and the middleware inside this one, in ms. */
  durationMs: number;
  outcome: AttemptOutcome;
  /** What was thrown, for every outcome but `succeeded`. */
  error: unknown;
}

/**
 * Task middleware that calls `callback` once each attempt ended, with its
 * duration and outcome: the hook for metrics. A callback that throws is
 * logged on `ctx.logger` and does not change the attempt's outcome.
 *
 * @example
 * const runs = new client.Histogram({ name: 'task_seconds', help: 'Task run time', labelNames: ['task', 'outcome'] });
 * const tandem = createTandem({
 *   connectionString,
 *   tasks,
 *   taskMiddleware: [onTaskFinished((t) => runs.observe({ task: t.name, outcome: t.outcome }, t.durationMs / 1000))],
 * });
 */
export function onTaskFinished(callback: (finished: TaskFinished) => void): TaskMiddleware {
  if (typeof callback !== 'function') {
    throw new TypeError(`onTaskFinished needs a callback function, got ${typeof callback}`);
  }
  return async (ctx, next) => {
    const started = performance.now();
    let outcome: AttemptOutcome = 'succeeded';
    let error: unknown = null;
    try {
      return await next();
    } catch (err) {
      outcome = failedOutcome(ctx, err);
      error = err;
      throw err;
    } finally {
      const finished: TaskFinished = {
        id: ctx.id,
        name: ctx.name,
        queue: ctx.queue,
        attempt: ctx.attempt,
        maxAttempts: ctx.maxAttempts,
        durationMs: performance.now() - started,
        outcome,
        error,
      };
      try {
        callback(finished);
      } catch (err) {
        ctx.logger.warn({ err }, 'onTaskFinished callback threw; the attempt is unaffected');
      }
    }
  };
}
