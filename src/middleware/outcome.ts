import { PermanentError, SnoozeError } from '../errors.js';
import type { TaskContext } from '../task.js';

/**
 * How one attempt ended, as task middleware can tell from around it:
 * `retrying` is a failed attempt with attempts left, `failed` the last one
 * (or a PermanentError, or a timeout of the last attempt); `released` is a
 * task given back unfinished (worker shutdown, claim lost), its attempt not
 * counted.
 */
export type AttemptOutcome =
  | 'succeeded'
  | 'retrying'
  | 'failed'
  | 'snoozed'
  | 'cancelled'
  | 'released';

/** The outcome of an attempt whose `next()` threw `err`. */
export function failedOutcome(ctx: TaskContext, err: unknown): AttemptOutcome {
  if (err instanceof SnoozeError) return 'snoozed';
  // The runner decides by the abort's reason, not by what the handler threw.
  const reason = ctx.signal.aborted ? (ctx.signal.reason as { kind?: unknown })?.kind : undefined;
  if (reason === 'cancel') return 'cancelled';
  if (reason === 'shutdown' || reason === 'lost') return 'released';
  if (reason !== 'timeout' && err instanceof PermanentError) return 'failed';
  return ctx.attempt < ctx.maxAttempts ? 'retrying' : 'failed';
}

/** Whether an attempt that ended so counts as an error (for span status and log level). */
export function isError(outcome: AttemptOutcome): boolean {
  return outcome === 'retrying' || outcome === 'failed';
}
