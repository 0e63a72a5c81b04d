import ms from 'ms';
import { TandemError } from './errors.js';
import { describeMs } from './limits.js';
import type { Duration } from './types.js';

/**
 * Converts a Duration (milliseconds or a string like `'5m'`) to milliseconds.
 * Throws INVALID_DURATION, naming the option, when the value is not a
 * non-negative finite duration, or is longer than `max` ms.
 */
export function toMs(value: Duration, what: string, max?: number): number {
  let n: unknown;
  try {
    n = typeof value === 'string' ? ms(value as ms.StringValue) : value;
  } catch {
    n = undefined;
  }
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) {
    throw new TandemError(
      'INVALID_DURATION',
      `${what} must be a non-negative number of milliseconds or a string like '30s' or '5m', got ${JSON.stringify(value)}`,
    );
  }
  if (max !== undefined && n > max) {
    throw new TandemError(
      'INVALID_DURATION',
      `${what} must be at most ${describeMs(max)}, got ${JSON.stringify(value)}`,
    );
  }
  return Math.round(n);
}
