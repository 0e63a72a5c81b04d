import { toMs } from '../duration.js';
import { TandemError } from '../errors.js';
import type { Duration } from '../types.js';

/**
 * A rate limit: at most `limit` starts in any window of `per`, across every
 * worker. Written `'100/1s'`, `'10/1m'`, or `{ limit: 100, per: '1s' }`.
 */
export type RateLimit = string | { limit: number; per: Duration };

export interface ResolvedRate {
  limit: number;
  perMs: number;
}

/** The limits a queue or a task name can have; null means none. */
export interface FlowLimits {
  /** At most this many running at once, fleet-wide. */
  concurrency: number | null;
  /** At most `limit` starts in any window of `perMs` ms, fleet-wide. */
  rate: ResolvedRate | null;
}

/** Per-key limits of one task name (see TaskOptions.concurrencyKey). */
export interface KeyLimits {
  /** At most this many running per key. */
  concurrency: number | null;
  /** At most `limit` starts per key in any window of `perMs` ms. */
  rate: ResolvedRate | null;
  /**
   * With `'strict'`, a key's tasks start in enqueue order: while its oldest
   * waiting task waits for a retry, the key's later tasks wait too. With
   * `'skip'`, a task waiting for a retry lets the key's later tasks start.
   */
  order: 'strict' | 'skip';
}

/** Largest concurrency or rate limit: far beyond any fleet, inside an integer column. */
export const MAX_LIMIT = 1_000_000;
/** Longest rate window: one day. */
export const MAX_RATE_WINDOW_MS = 86_400_000;

function bad(what: string, msg: string): TandemError {
  return new TandemError('INVALID_LIMIT', `${what}: ${msg}`);
}

/** Checks a concurrency limit: an integer from 1 to MAX_LIMIT, or null/undefined for none. */
export function resolveConcurrency(v: unknown, what: string): number | null {
  if (v === undefined || v === null) return null;
  if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > MAX_LIMIT) {
    throw bad(
      what,
      `must be an integer from 1 to ${MAX_LIMIT}, got ${JSON.stringify(v)} (leave it out for no limit)`,
    );
  }
  return v as number;
}

/** Checks a rate limit (`'100/1s'` or `{ limit, per }`), or null/undefined for none. */
export function resolveRate(v: unknown, what: string): ResolvedRate | null {
  if (v === undefined || v === null) return null;
  let limit: unknown;
  let per: unknown;
  if (typeof v === 'string') {
    const m = /^\s*(\d+)\s*\/\s*(\S+)\s*$/.exec(v);
    if (!m) {
      throw bad(
        what,
        `must be written like '100/1s' (starts per window) or { limit: 100, per: '1s' }, got ${JSON.stringify(v)}`,
      );
    }
    limit = Number(m[1]);
    per = /^\d+$/.test(m[2] as string) ? Number(m[2]) : m[2];
  } else if (typeof v === 'object') {
    limit = (v as { limit?: unknown }).limit;
    per = (v as { per?: unknown }).per;
  } else {
    throw bad(what, `must be a string like '100/1s' or { limit, per }, got ${JSON.stringify(v)}`);
  }
  if (!Number.isInteger(limit) || (limit as number) < 1 || (limit as number) > MAX_LIMIT) {
    throw bad(
      what,
      `limit must be an integer from 1 to ${MAX_LIMIT}, got ${JSON.stringify(limit)}`,
    );
  }
  let perMs: number;
  try {
    perMs = toMs(per as Duration, `${what}.per`, MAX_RATE_WINDOW_MS);
  } catch (err) {
    throw bad(what, (err as Error).message);
  }
  if (perMs < 1) throw bad(what, 'the window must be at least 1 ms');
  return { limit: limit as number, perMs };
}

/** Human form of a rate, `'100/1000ms'`. */
export function formatRate(r: ResolvedRate | null): string | null {
  return r ? `${r.limit}/${r.perMs}ms` : null;
}
