/**
 * Every error Tandem raises carries a stable UPPER_SNAKE `code` so callers
 * (and the HTTP layer) can branch on it without parsing messages.
 */

export type TandemErrorCode =
  | 'UNKNOWN_TASK'
  | 'INVALID_PAYLOAD'
  | 'PAYLOAD_NOT_JSON'
  | 'PAYLOAD_TOO_LARGE'
  | 'INVALID_OPTIONS'
  | 'INVALID_TASK_DEFINITION'
  | 'INVALID_LIMIT'
  | 'INVALID_CONCURRENCY_KEY'
  | 'INVALID_DURATION'
  | 'INVALID_EXECUTOR'
  | 'RESULT_NOT_JSON'
  | 'TIMEOUT'
  | 'TASK_NOT_FOUND'
  | 'INVALID_ID'
  | 'INVALID_STATE'
  | 'INVALID_CURSOR'
  | 'INVALID_FILTER'
  | 'CLOSED'
  | 'MISSING_DEPENDENCY';

/** Base class of Tandem's errors. */
export class TandemError extends Error {
  readonly code: TandemErrorCode;
  /** Structured details (for example the zod issues of an invalid payload). */
  readonly details: unknown;

  constructor(code: TandemErrorCode, message: string, details?: unknown) {
    super(message);
    this.name = 'TandemError';
    this.code = code;
    this.details = details;
  }
}

/**
 * Throw from a handler to fail the task at once, without further retries.
 *
 * @example
 * if (card.declined) throw new PermanentError('card declined');
 */
export class PermanentError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PermanentError';
  }
}

/**
 * Throw from a handler (or call `ctx.snooze`) to run the task again later
 * without consuming an attempt.
 *
 * @example
 * if (!rateLimiter.tryTake()) throw new SnoozeError('10s');
 */
export class SnoozeError extends Error {
  readonly delayMs: number;
  constructor(delayMs: number) {
    super(`snoozed for ${delayMs} ms`);
    this.name = 'SnoozeError';
    this.delayMs = delayMs;
  }
}

/**
 * The error for an optional peer dependency that is not installed: one line
 * naming the package and the command that installs it.
 */
export function missingDependency(pkg: string, neededFor: string): TandemError {
  return new TandemError(
    'MISSING_DEPENDENCY',
    `${neededFor} needs the ${pkg} package, which is not installed: npm install ${pkg}`,
  );
}
