import ms from 'ms';
import { TandemError } from './errors.js';
import type { Duration } from './types.js';

/**
 * Converts a Duration (milliseconds or a string like `'5m'`) to milliseconds.
 * Throws INVALID_DURATION, naming the option, when the value is not a
 * non-negative finite duration.
 */
export function toMs(value: Duration, what: string): number {
  const n = typeof value === 'string' ? ms(value as ms.StringValue) : value;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) {
    throw new TandemError(
      'INVALID_DURATION',
      `${what} must be a non-negative number of milliseconds or a string like '30s' or '5m', got ${JSON.stringify(value)}`,
    );
  }
  return Math.round(n);
}
