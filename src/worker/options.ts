import { toMs } from '../duration.js';
import { TandemError } from '../errors.js';
import type { AnyTask } from '../task.js';
import type { Duration, Logger } from '../types.js';
import type { Schedule } from './cron.js';
import { type RetentionOptions, resolveRetention } from './pruner.js';

export interface WorkerOptions {
  /** Queue name → how many tasks of it run at once. Default: every registered task's queue, 10 each. */
  queues?: Record<string, number>;
  /** Poll fallback for delayed and retrying tasks and missed wake-ups. Default `'1s'`. */
  pollInterval?: Duration;
  /** Set false to poll instead of LISTENing for wake-ups. Default true. */
  listen?: boolean;
  /**
   * Whether the worker's own connection is a session of its own. Default
   * true. Set false when the only way to PostgreSQL is a transaction pooler
   * (PgBouncer in transaction mode, with no `sessionConnectionString`):
   * the worker then holds no liveness lock (a killed worker is rescued
   * after its `lease`, not within seconds), polls instead of listening,
   * sends no prepared statements, and commits its claims synchronously.
   */
  session?: boolean;
  /** How long `stop()` waits for running tasks before aborting them. Default `'30s'`. */
  shutdownTimeout?: Duration;
  /** Upper bound on tasks claimed ahead of free slots, per queue. Default 1000. */
  maxPrefetch?: number;
  /** How much work (in ms of handler time) a worker claims ahead of its slots. Default 100. */
  prefetchWindowMs?: number;
  /**
   * A worker whose heartbeat is older than this is presumed frozen or cut
   * off, and its tasks are rescued. Default `'30s'`. Each worker is judged
   * by its own lease. (A killed worker is noticed within seconds through
   * its liveness lock, whatever the lease.)
   */
  lease?: Duration;
  /** Cron schedules this worker fires (every worker that has a schedule fires it). */
  schedules?: readonly Schedule[];
  /** How long finished tasks are kept, for the whole fleet (stored in `tandem.retention`). */
  retention?: RetentionOptions;
  /**
   * Log unhandled promise rejections instead of letting Node end the
   * process, while this worker runs. Process-wide, so off by default for
   * workers embedded in a host process; `tandem worker` turns it on.
   */
  trapUnhandledRejections?: boolean;
  logger?: Logger;
}

/** WorkerOptions checked, with every default filled in. */
export interface ResolvedWorkerOptions {
  logger: Logger;
  queues: Record<string, number>;
  pollMs: number;
  shutdownMs: number;
  maxPrefetch: number;
  windowMs: number;
  leaseMs: number;
  trap: boolean;
  session: boolean;
  /** LISTENs for notifications (wake-ups, cancels, limit changes); else polls. */
  listening: boolean;
  retention: [string, number | null][];
  schedules: readonly Schedule[];
}

/** Checks a worker's options against its task definitions; throws INVALID_OPTIONS. */
export function resolveWorkerOptions(
  options: WorkerOptions,
  defs: readonly AnyTask[],
  clientLogger: Logger,
): ResolvedWorkerOptions {
  if (defs.length === 0) {
    throw new TandemError(
      'INVALID_OPTIONS',
      'a worker needs task definitions: pass them in createTandem({ tasks: [...] })',
    );
  }
  const queues = options.queues ?? Object.fromEntries(defs.map((d) => [d.queue, 10]));
  for (const [name, concurrency] of Object.entries(queues)) {
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new TandemError(
        'INVALID_OPTIONS',
        `concurrency of queue ${JSON.stringify(name)} must be a positive integer, got ${concurrency}`,
      );
    }
  }
  const session = options.session ?? true;
  return {
    logger: options.logger ?? clientLogger,
    queues,
    pollMs: toMs(options.pollInterval ?? '1s', 'pollInterval'),
    shutdownMs: toMs(options.shutdownTimeout ?? '30s', 'shutdownTimeout'),
    maxPrefetch: options.maxPrefetch ?? 1000,
    windowMs: options.prefetchWindowMs ?? 100,
    leaseMs: toMs(options.lease ?? '30s', 'lease', 2_147_483_647),
    trap: options.trapUnhandledRejections ?? false,
    session,
    listening: session && (options.listen ?? true),
    retention: resolveRetention(options.retention ?? {}),
    schedules: options.schedules ?? [],
  };
}
