import { TandemError } from '../errors.js';
import type { EnqueueMiddleware } from './enqueue.js';
import { checkMiddleware, type TaskMiddleware } from './task.js';
import { enqueueTracing, taskTracing, tracingActive } from './tracing.js';

/** The middleware options of createTandem. */
export interface MiddlewareOptions {
  /**
   * Around each attempt of every task, first outermost (as in Koa): the
   * first one registered sees the attempt first and its result last.
   */
  taskMiddleware?: readonly TaskMiddleware[];
  /** Around each enqueued task, before its insert, first outermost. */
  enqueueMiddleware?: readonly EnqueueMiddleware[];
  /**
   * OpenTelemetry spans for enqueues and attempts, with the trace context
   * carried in the task's metadata. On by default; it costs nothing until a
   * tracer provider is registered. The tracing middleware is the
   * outermost of all.
   */
  tracing?: boolean;
}

/**
 * The chains of one Tandem instance, fixed at createTandem. Each call
 * returns a prebuilt array, or null when there is nothing to run, so the
 * hot path allocates nothing without middleware and without a tracer
 * provider.
 */
export class MiddlewareStack {
  private readonly task: readonly TaskMiddleware[] | null;
  private readonly tracedTask: readonly TaskMiddleware[];
  private readonly enqueue: readonly EnqueueMiddleware[] | null;
  private readonly tracedEnqueue: readonly EnqueueMiddleware[];
  private readonly tracing: boolean;

  constructor(options: MiddlewareOptions) {
    const task = checkMiddleware<TaskMiddleware>(
      options.taskMiddleware,
      'taskMiddleware',
      '(ctx, next)',
    );
    const enqueue = checkMiddleware<EnqueueMiddleware>(
      options.enqueueMiddleware,
      'enqueueMiddleware',
      '(info, next)',
    );
    if (options.tracing !== undefined && typeof options.tracing !== 'boolean') {
      throw new TandemError(
        'INVALID_OPTIONS',
        `tracing must be true or false, got ${JSON.stringify(options.tracing)}`,
      );
    }
    this.tracing = options.tracing ?? true;
    this.task = task.length > 0 ? task : null;
    this.enqueue = enqueue.length > 0 ? enqueue : null;
    this.tracedTask = Object.freeze([taskTracing, ...task]);
    this.tracedEnqueue = Object.freeze([enqueueTracing, ...enqueue]);
  }

  /** The chain around an attempt, or null. */
  taskChain(): readonly TaskMiddleware[] | null {
    return this.tracing && tracingActive() ? this.tracedTask : this.task;
  }

  /** The chain around an enqueue, or null. */
  enqueueChain(): readonly EnqueueMiddleware[] | null {
    return this.tracing && tracingActive() ? this.tracedEnqueue : this.enqueue;
  }
}
