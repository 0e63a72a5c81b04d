import { type AttemptOutcome, failedOutcome, isError } from './outcome.js';
import type { TaskMiddleware } from './task.js';

export interface LogTasksOptions {
  /** Level of the line logged when an attempt ends. Default `'info'`; `'debug'` for busy queues. */
  level?: 'debug' | 'info';
}

/**
 * Task middleware that logs each attempt on `ctx.logger`, the pino child
 * that already carries the task's fields (`taskId`, `task`, `queue`,
 * `attempt`): `task started` at debug, then `task finished` with
 * `outcome` and `durationMs`. (The worker itself already warns of every
 * failed attempt, with its error.)
 *
 * @example
 * const tandem = createTandem({ connectionString, tasks, taskMiddleware: [logTasks()] });
 * // {"taskId":"42","task":"send-email","queue":"default","attempt":1,"outcome":"succeeded","durationMs":12.5,"msg":"task finished"}
 */
export function logTasks(options: LogTasksOptions = {}): TaskMiddleware {
  const level = options.level ?? 'info';
  if (level !== 'debug' && level !== 'info') {
    throw new TypeError(`logTasks level must be 'debug' or 'info', got ${JSON.stringify(level)}`);
  }
  return async (ctx, next) => {
    const log = ctx.logger;
    const started = performance.now();
    log.debug('task started');
    let outcome: AttemptOutcome = 'succeeded';
    let err: unknown;
    try {
      return await next();
    } catch (e) {
      outcome = failedOutcome(ctx, e);
      err = e;
      throw e;
    } finally {
      const durationMs = Math.round((performance.now() - started) * 10) / 10;
      const fields: Record<string, unknown> = { outcome, durationMs };
      if (isError(outcome)) fields.error = (err as Error)?.message ?? String(err);
      log[level](fields, 'task finished');
    }
  };
}
