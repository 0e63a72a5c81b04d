import type { Kysely, Transaction } from 'kysely';
import { toMs } from './duration.js';
import { TandemError } from './errors.js';
import {
  type FlowLimits,
  type KeyLimits,
  type RateLimit,
  resolveConcurrency,
  resolveRate,
} from './flow/options.js';
import {
  INT4_MAX,
  INT4_MIN,
  isInt4,
  MAX_ATTEMPTS,
  MAX_DELAY_MS,
  MAX_TIMEOUT_MS,
  NAME_RE,
} from './limits.js';
import type { RetryAfterOptions, RetryAfterSource } from './retry-after.js';
import {
  type InferInput,
  type InferOutput,
  isPayloadSchema,
  type PayloadSchema,
} from './schema.js';
import type { Duration, Logger } from './types.js';

/** `{field}` or `{a.b}` placeholders of a concurrency key template. */
export const KEY_TEMPLATE_RE = /\{([A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*)\}/g;

/** Retry delays: `base * factor^(attempt-1)`, capped at `max`, optionally jittered. */
export interface BackoffOptions {
  /** First retry delay. Default `'1s'`. */
  base?: Duration;
  /** Growth per attempt. Default 2. */
  factor?: number;
  /** Upper bound on one delay. Default `'1h'`. */
  max?: Duration;
  /** Spread each delay uniformly over ±25 % so retries of a burst do not align. Default true. */
  jitter?: boolean;
}

export interface ResolvedBackoff {
  baseMs: number;
  factor: number;
  maxMs: number;
  jitter: boolean;
}

/**
 * What a handler receives besides its payload. `signal` and `logger` are
 * made on first read, so pass `ctx` itself to helpers rather than a spread
 * copy (`{ ...ctx }` leaves them and `snooze` behind).
 */
export interface TaskContext {
  id: string;
  name: string;
  queue: string;
  /** 1 for the first run. */
  attempt: number;
  maxAttempts: number;
  key: string | null;
  /** Aborted on timeout, on cancel, and when the worker shuts down. */
  signal: AbortSignal;
  logger: Logger;
  /** Tandem's Kysely instance (its own connections, outside any task transaction). */
  db: Kysely<any>;
  /** Metadata given at enqueue (trace context…). */
  metadata: Record<string, unknown> | null;
  /** Run this task again after `delay` without consuming an attempt. Ends the handler. */
  snooze(delay: Duration): never;
  /**
   * Run this task again when the server said to (an upstream's 429 or 503),
   * without consuming an attempt: reads `Retry-After` from a Response, a
   * Headers or headers object, or takes its value (seconds or an HTTP-date),
   * a number of seconds or a Date; a missing or unreadable value waits
   * `options.fallback` (default one minute). A snooze: ends the handler.
   *
   * @example
   * const res = await fetch(url, { signal: ctx.signal });
   * if (res.status === 429) ctx.retryAfter(res, { fallback: '30s' });
   */
  retryAfter(source: RetryAfterSource, options?: RetryAfterOptions): never;
}

/** Context of a `transactional: true` task: its writes commit with its completion. */
export interface TransactionalTaskContext extends TaskContext {
  trx: Transaction<any>;
}

export interface TaskOptions<S extends PayloadSchema, R, T extends boolean> {
  /** Unique task name. */
  name: string;
  /**
   * Schema of the payload: zod (3.24+ or 4), valibot, arktype or any other
   * Standard Schema validator; the handler's payload type is inferred from it.
   */
  payload: S;
  /** Queue name. Default `'default'`. */
  queue?: string;
  /** Lower runs first. Default 0. */
  priority?: number;
  /** First run plus retries. Default 4. */
  maxAttempts?: number;
  backoff?: BackoffOptions;
  /** Per-attempt time limit; aborts `ctx.signal` and fails the attempt. */
  timeout?: Duration;
  /** When true the handler gets `ctx.trx`, committed together with the task's completion. */
  transactional?: T;
  /** At most this many of this task run at once, across every worker. Default: no limit. */
  concurrency?: number;
  /** At most this many starts of this task per window, across every worker: `'100/1s'`. */
  rateLimit?: RateLimit;
  /**
   * The key that per-key limits and fair claiming apply to, such as the
   * tenant: a template of payload fields, `'customer:{customerId}'` (both
   * the TypeScript and the SQL door fill it in), or a function of the
   * payload (TypeScript door only; the SQL door must then be given the key).
   * Tasks with a key are claimed round-robin across keys, so one key's
   * backlog never starves another's.
   */
  concurrencyKey?: string | ((payload: InferOutput<S>) => string);
  /** At most this many of this task run at once per key. Needs `concurrencyKey`. */
  keyConcurrency?: number;
  /** At most this many starts of this task per key per window: `'10/1s'`. Needs `concurrencyKey`. */
  keyRateLimit?: RateLimit;
  /**
   * Order within a key. `'strict'` (the default): a key's tasks start in
   * enqueue order, and a task waiting for its retry holds back the key's
   * later tasks. `'skip'`: a task waiting for its retry lets them start.
   */
  keyOrder?: 'strict' | 'skip';
  handler: (
    payload: InferOutput<S>,
    ctx: T extends true ? TransactionalTaskContext : TaskContext,
  ) => Promise<R> | R;
}

/** A task definition, as returned by `defineTask`. */
export interface TaskDefinition<
  S extends PayloadSchema = PayloadSchema,
  R = unknown,
  T extends boolean = boolean,
> {
  readonly name: string;
  readonly schema: S;
  readonly queue: string;
  readonly priority: number;
  readonly maxAttempts: number;
  readonly backoff: ResolvedBackoff;
  readonly timeoutMs: number | null;
  readonly transactional: T;
  /** Fleet-wide limits of this task name. */
  readonly limits: FlowLimits;
  /** Template or function giving a task's concurrency key, or null. */
  readonly concurrencyKey: string | ((payload: InferOutput<S>) => string) | null;
  /** Limits per concurrency key. */
  readonly keyLimits: KeyLimits;
  readonly handler: TaskOptions<S, R, T>['handler'];
}

/** Any task definition, whatever its payload. */
export type AnyTask = TaskDefinition<any, any, boolean>;

/** The payload type a task accepts at enqueue. */
export type PayloadOf<T> = T extends TaskDefinition<infer S, any, any> ? InferInput<S> : never;

/**
 * Defines a typed task.
 *
 * @example
 * const sendEmail = defineTask({
 *   name: 'send-email',
 *   payload: z.object({ to: z.string().email() }),
 *   async handler(payload, ctx) { await mailer.send(payload.to, { signal: ctx.signal }); },
 * });
 */
export function defineTask<S extends PayloadSchema, R = unknown, T extends boolean = false>(
  options: TaskOptions<S, R, T>,
): TaskDefinition<S, R, T> {
  const bad = (msg: string) =>
    new TandemError(
      'INVALID_TASK_DEFINITION',
      `defineTask(${JSON.stringify(options?.name)}): ${msg}`,
    );
  if (typeof options?.name !== 'string' || !NAME_RE.test(options.name)) {
    throw bad('name must be 1-200 characters of letters, digits and _ . : - /');
  }
  if (!isPayloadSchema(options.payload)) {
    throw bad(
      'payload must be a schema: zod (3.24+ or 4), valibot, arktype or another Standard Schema validator, for example z.object({ id: z.number() })',
    );
  }
  if (typeof options.handler !== 'function') throw bad('handler must be a function');
  const queue = options.queue ?? 'default';
  if (!NAME_RE.test(queue))
    throw bad(
      `queue must be 1-200 characters of letters, digits and _ . : - /, got ${JSON.stringify(queue)}`,
    );
  const priority = options.priority ?? 0;
  if (!isInt4(priority))
    throw bad(`priority must be an integer from ${INT4_MIN} to ${INT4_MAX}, got ${priority}`);
  const maxAttempts = options.maxAttempts ?? 4;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > MAX_ATTEMPTS) {
    throw bad(`maxAttempts must be an integer from 1 to ${MAX_ATTEMPTS}, got ${maxAttempts}`);
  }
  const factor = options.backoff?.factor ?? 2;
  if (!(factor >= 1 && factor <= 1000))
    throw bad(`backoff.factor must be from 1 to 1000, got ${factor}`);
  const ms = (v: Duration, what: string, max: number) => {
    try {
      return toMs(v, what, max);
    } catch (err) {
      throw bad((err as Error).message);
    }
  };
  const backoff: ResolvedBackoff = {
    baseMs: ms(options.backoff?.base ?? '1s', 'backoff.base', MAX_DELAY_MS),
    factor,
    maxMs: ms(options.backoff?.max ?? '1h', 'backoff.max', MAX_DELAY_MS),
    jitter: options.backoff?.jitter ?? true,
  };
  const timeoutMs =
    options.timeout === undefined ? null : ms(options.timeout, 'timeout', MAX_TIMEOUT_MS);
  if (timeoutMs === 0) throw bad('timeout must be greater than 0');
  const flow = <V>(f: () => V): V => {
    try {
      return f();
    } catch (err) {
      throw bad((err as Error).message);
    }
  };
  const limits: FlowLimits = {
    concurrency: flow(() => resolveConcurrency(options.concurrency, 'concurrency')),
    rate: flow(() => resolveRate(options.rateLimit, 'rateLimit')),
  };
  const concurrencyKey = options.concurrencyKey ?? null;
  if (
    concurrencyKey !== null &&
    typeof concurrencyKey !== 'function' &&
    !(
      typeof concurrencyKey === 'string' &&
      concurrencyKey.length > 0 &&
      concurrencyKey.length <= 200
    )
  ) {
    throw bad(
      `concurrencyKey must be a template like 'customer:{customerId}' (1-200 characters) or a function of the payload, got ${JSON.stringify(concurrencyKey)}`,
    );
  }
  const keyOrder = options.keyOrder ?? 'strict';
  if (keyOrder !== 'strict' && keyOrder !== 'skip') {
    throw bad(`keyOrder must be 'strict' or 'skip', got ${JSON.stringify(keyOrder)}`);
  }
  const keyLimits: KeyLimits = {
    concurrency: flow(() => resolveConcurrency(options.keyConcurrency, 'keyConcurrency')),
    rate: flow(() => resolveRate(options.keyRateLimit, 'keyRateLimit')),
    order: keyOrder,
  };
  if (
    concurrencyKey === null &&
    (keyLimits.concurrency !== null || keyLimits.rate !== null || options.keyOrder !== undefined)
  ) {
    throw bad(
      'keyConcurrency, keyRateLimit and keyOrder apply per concurrency key: give concurrencyKey too',
    );
  }
  return Object.freeze({
    name: options.name,
    schema: options.payload,
    queue,
    priority,
    maxAttempts,
    backoff,
    timeoutMs,
    transactional: (options.transactional ?? false) as T,
    limits,
    concurrencyKey,
    keyLimits,
    handler: options.handler,
  });
}

/** Delay before the retry that follows failed attempt number `attempt` (1-based). */
export function backoffDelay(b: ResolvedBackoff, attempt: number, random = Math.random): number {
  // Capped before it can overflow: factor ** attempt reaches Infinity, and 0 * Infinity is NaN.
  const growth = b.factor ** Math.min(Math.max(0, attempt - 1), 1_000);
  const raw = b.baseMs === 0 ? 0 : Math.min(b.maxMs, b.baseMs * growth);
  if (!b.jitter) return Math.round(raw);
  return Math.round(Math.min(b.maxMs, raw * (0.75 + random() * 0.5)));
}
