/**
 * The tasks page's filters as query parameters: the API's names (status,
 * queue, name, key, key_prefix, payload, error, last_error, created_after…)
 * plus `since`, a relative time range that becomes an absolute
 * created_after, so a bulk action acts on exactly what was shown.
 */
import { TandemError } from '../../errors.js';
import type { FilterInput } from '../filters.js';
import { all, one, type Query } from './query.js';

export const FILTER_PARAMS = [
  'status',
  'queue',
  'name',
  'key',
  'key_prefix',
  'payload',
  'error',
  'last_error',
  'created_after',
  'created_before',
  'finished_after',
  'finished_before',
] as const;

/** The time ranges the form offers. */
export const SINCE: Record<string, { ms: number; label: string }> = {
  '15m': { ms: 15 * 60_000, label: 'in the last 15 minutes' },
  '1h': { ms: 3_600_000, label: 'in the last hour' },
  '6h': { ms: 6 * 3_600_000, label: 'in the last 6 hours' },
  '24h': { ms: 24 * 3_600_000, label: 'in the last 24 hours' },
  '7d': { ms: 7 * 24 * 3_600_000, label: 'in the last 7 days' },
};

/** The filter of a query or form, with `since` resolved against `now`. */
export function filterInput(q: Query, now: number): FilterInput {
  const out: Record<string, string | string[]> = {};
  for (const k of FILTER_PARAMS) {
    if (q[k] === undefined) continue;
    out[k] = k === 'status' ? all(q, k).flatMap((s) => s.split(',')) : one(q, k)!;
  }
  const since = one(q, 'since');
  if (since !== undefined) {
    const range = SINCE[since];
    if (!range)
      throw new TandemError(
        'INVALID_FILTER',
        `since must be one of ${Object.keys(SINCE).join(', ')}, got ${JSON.stringify(since.slice(0, 50))}`,
      );
    if (out.created_after !== undefined)
      throw new TandemError('INVALID_FILTER', 'give either since or created_after, not both');
    out.created_after = new Date(now - range.ms).toISOString();
  }
  return out as FilterInput;
}

/** The filter as flat name/value pairs, for hidden form fields and links. */
export function filterPairs(input: FilterInput): [string, string][] {
  const pairs: [string, string][] = [];
  for (const k of FILTER_PARAMS) {
    const v = input[k];
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const one of v) pairs.push([k, String(one)]);
    else pairs.push([k, typeof v === 'string' ? v : JSON.stringify(v)]);
  }
  return pairs;
}
