/**
 * Query strings of dashboard pages. Forms send every field, so empty values
 * mean "not given"; a parameter the page does not know is an error that
 * names the ones it does (as in the API), never silently ignored.
 */
import { TandemError } from '../../errors.js';
import type { DashContext } from './context.js';

export type Query = Record<string, string | string[]>;

/**
 * The non-empty parameters of the request's query string. `many` are the
 * ones that may repeat (checkboxes); the others keep their last value.
 */
export function readQuery(
  c: DashContext,
  known: readonly string[],
  many: readonly string[] = [],
): Query {
  const out: Query = {};
  const params = new URL(c.req.url).searchParams;
  for (const [k, v] of params) {
    if (!known.includes(k))
      throw new TandemError(
        'INVALID_FILTER',
        `unknown parameter ${JSON.stringify(k.slice(0, 100))}; this page takes ${known.join(', ')}`,
      );
    const value = v.trim();
    if (value === '') continue;
    if (many.includes(k)) {
      const prev = out[k];
      out[k] = Array.isArray(prev) ? [...prev, value] : [value];
    } else out[k] = value;
  }
  return out;
}

/** One value of a parsed query or form (the last, when repeated). */
export function one(q: Query, k: string): string | undefined {
  const v = q[k];
  return Array.isArray(v) ? v.at(-1) : v;
}

/** All values of a parsed query or form. */
export function all(q: Query, k: string): string[] {
  const v = q[k];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/** The non-empty string fields of a form body (files are refused). */
export async function readForm(c: DashContext): Promise<Query> {
  const type = c.req.header('content-type') ?? '';
  if (!/^(application\/x-www-form-urlencoded|multipart\/form-data)\b/i.test(type))
    throw new TandemError(
      'INVALID_OPTIONS',
      'dashboard actions take a form (application/x-www-form-urlencoded); scripts use the JSON API',
    );
  const body = await c.req.parseBody({ all: true });
  const out: Query = {};
  for (const [k, v] of Object.entries(body)) {
    const values = (Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === 'string');
    const kept = values.map((x) => x.trim()).filter((x) => x !== '');
    if (kept.length === 1) out[k] = kept[0]!;
    else if (kept.length > 1) out[k] = kept;
  }
  return out;
}

/** An integer parameter within bounds, or the default. */
export function intOf(q: Query, k: string, min: number, max: number, dflt: number): number {
  const v = one(q, k);
  if (v === undefined) return dflt;
  if (!/^\d{1,9}$/.test(v) || Number(v) < min || Number(v) > max)
    throw new TandemError(
      'INVALID_OPTIONS',
      `${k} must be a whole number from ${min} to ${max}, got ${JSON.stringify(v.slice(0, 50))}`,
    );
  return Number(v);
}
