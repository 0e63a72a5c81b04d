import type { Transaction } from 'kysely';
import { TandemError } from '../errors.js';
import type { TaskContext } from '../task.js';

/**
 * What task middleware sees: the handler's own `ctx` (the same object), with
 * the validated payload. For a `transactional: true` task, `trx` is set only
 * while `next()` runs.
 */
export interface TaskMiddlewareContext extends TaskContext {
  /** The payload, as the task's schema returned it. */
  readonly payload: unknown;
  /** The task's transaction (transactional tasks, inside `next()` only). */
  readonly trx?: Transaction<any> | undefined;
}

/**
 * Runs around each attempt of every task: call `next()` to run the rest of
 * the chain and the handler, and return what it resolved with (the
 * handler's result, stored as the task's result). What the middleware
 * throws is the attempt's error, exactly as if the handler had thrown it.
 *
 * @example
 * const timing: TaskMiddleware = async (ctx, next) => {
 *   const started = performance.now();
 *   try {
 *     return await next();
 *   } finally {
 *     ctx.logger.info({ ms: performance.now() - started }, 'attempt took');
 *   }
 * };
 * const tandem = createTandem({ connectionString, tasks, taskMiddleware: [timing] });
 */
export type TaskMiddleware = (
  ctx: TaskMiddlewareContext,
  next: () => Promise<unknown>,
) => Promise<unknown> | unknown;

/**
 * Runs `handler` inside `chain`, first middleware outermost (as in Koa).
 * Never throws synchronously: every failure is the returned promise's.
 */
export function runTaskChain(
  chain: readonly TaskMiddleware[],
  ctx: TaskMiddlewareContext,
  handler: () => unknown,
): Promise<unknown> {
  let reached = -1;
  const dispatch = (i: number): Promise<unknown> => {
    if (i <= reached) {
      return Promise.reject(
        new TandemError(
          'INVALID_STATE',
          `task middleware #${i} of ${ctx.name} called next() more than once; call it once and await it`,
        ),
      );
    }
    reached = i;
    try {
      if (i === chain.length) return Promise.resolve(handler());
      return Promise.resolve(chain[i]!(ctx, () => dispatch(i + 1)));
    } catch (err) {
      return Promise.reject(err);
    }
  };
  return dispatch(0);
}

/** Checks a createTandem option holding middleware functions; returns a frozen copy. */
export function checkMiddleware<F>(value: unknown, option: string, shape: string): readonly F[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    throw new TandemError(
      'INVALID_OPTIONS',
      `${option} must be an array of middleware functions, got ${value === null ? 'null' : typeof value}`,
    );
  }
  value.forEach((m, i) => {
    if (typeof m !== 'function') {
      throw new TandemError(
        'INVALID_OPTIONS',
        `${option}[${i}] must be a function ${shape} => …, got ${m === null ? 'null' : typeof m}`,
      );
    }
  });
  return Object.freeze([...value]) as readonly F[];
}
