import { toMs } from './duration.js';
import { SnoozeError } from './errors.js';
import { MAX_DELAY_MS } from './limits.js';
import type { Duration } from './types.js';

/**
 * Where a server said when to come back: a `Response` or its `Headers`
 * (the `Retry-After` header is read), a plain headers object
 * (`{ 'retry-after': '2' }`, as Node's `IncomingMessage.headers`), the
 * header's value (`'120'` or an HTTP-date such as
 * `'Wed, 21 Oct 2026 07:28:00 GMT'`), a number of **seconds** (as in the
 * header), or a `Date`. `null` and `undefined` stand for a missing header.
 */
export type RetryAfterSource =
  | { headers: { get(name: string): string | null } }
  | { get(name: string): string | null }
  | Record<string, string | readonly string[] | undefined>
  | string
  | number
  | Date
  | null
  | undefined;

export interface RetryAfterOptions {
  /** Delay when the source has no Retry-After or one that cannot be read. Default `'1m'`. */
  fallback?: Duration;
  /** Longest delay taken from the server; a longer one is cut to this. Default 10 years (snooze's bound). */
  max?: Duration;
}

/** The header's value, as given or read from a Response, Headers or headers object. */
function headerValue(source: RetryAfterSource): string | number | Date | null {
  if (source === null || source === undefined) return null;
  if (typeof source === 'string' || typeof source === 'number' || source instanceof Date)
    return source;
  if (typeof source !== 'object') return null;
  const s = source as Record<string, unknown>;
  const headers = s.headers as { get?: unknown } | undefined;
  if (headers && typeof headers.get === 'function')
    return (headers.get as (n: string) => string | null).call(headers, 'retry-after');
  if (typeof s.get === 'function')
    return (s.get as (n: string) => string | null).call(source, 'retry-after');
  for (const [k, v] of Object.entries(s)) {
    if (k.toLowerCase() !== 'retry-after') continue;
    const first = Array.isArray(v) ? v[0] : v;
    return typeof first === 'string' ? first : null;
  }
  return null;
}

/**
 * Milliseconds to wait according to `source` (see RetryAfterSource): a
 * past date is 0, a delay past `max` is cut to `max`, and a missing or
 * unreadable value gives `fallback`.
 *
 * @example
 * retryAfterMs('2'); // 2000
 * retryAfterMs(new Date(Date.now() + 5_000)); // about 5000
 * retryAfterMs(undefined, { fallback: '30s' }); // 30000
 */
export function retryAfterMs(
  source: RetryAfterSource,
  options: RetryAfterOptions = {},
  now: number = Date.now(),
): number {
  const max = toMs(options.max ?? MAX_DELAY_MS, 'retryAfter max', MAX_DELAY_MS);
  const fallback = Math.min(
    max,
    toMs(options.fallback ?? '1m', 'retryAfter fallback', MAX_DELAY_MS),
  );
  const v = headerValue(source);
  let ms: number;
  if (typeof v === 'number') ms = v * 1000;
  else if (v instanceof Date) ms = v.getTime() - now;
  else if (typeof v === 'string') {
    const t = v.trim();
    // delay-seconds is digits only (RFC 9110 §10.2.3); anything else must be
    // an HTTP-date, which names its month ('-3' would parse as a year).
    if (/^\d+(\.\d+)?$/.test(t)) ms = Number(t) * 1000;
    else ms = /[A-Za-z]{3}/.test(t) ? Date.parse(t) - now : Number.NaN;
  } else ms = Number.NaN;
  if (!Number.isFinite(ms)) return fallback;
  return Math.round(Math.min(max, Math.max(0, ms)));
}

/**
 * Throw from a handler (or call `ctx.retryAfter`) when an upstream answered
 * 429 or 503 with `Retry-After`: the task runs again after the server's
 * delay without consuming an attempt (a snooze).
 *
 * @example
 * const res = await fetch(url, { signal: ctx.signal });
 * if (res.status === 429 || res.status === 503) throw new RetryAfterError(res, { fallback: '30s' });
 */
export class RetryAfterError extends SnoozeError {
  constructor(source: RetryAfterSource, options?: RetryAfterOptions) {
    super(retryAfterMs(source, options));
    this.name = 'RetryAfterError';
    this.message = `the server asked to retry after ${this.delayMs} ms`;
  }
}
