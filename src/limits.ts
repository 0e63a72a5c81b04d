/**
 * The bounds every door checks before any SQL runs: what PostgreSQL's column
 * types and Node's timers can hold. A value past them is refused with a
 * clear error instead of failing inside the caller's transaction.
 */

export const INT4_MIN = -2_147_483_648;
export const INT4_MAX = 2_147_483_647;

/** Largest maxAttempts: far beyond any retry policy, far inside an integer column. */
export const MAX_ATTEMPTS = 1_000_000;

/** Longest delay of a task (delay, snooze, backoff): 10 years. Use runAt for later. */
export const MAX_DELAY_MS = 10 * 365 * 86_400_000;

/** Longest timeout: Node's timers fire at once past 2^31 - 1 ms (24.8 days). */
export const MAX_TIMEOUT_MS = INT4_MAX;

/** runAt must fall within four-digit years that both Date and timestamptz print alike. */
export const RUN_AT_MIN = Date.UTC(1970, 0, 1);
export const RUN_AT_MAX = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** Longest idempotency key, in characters. */
export const MAX_KEY_LENGTH = 500;

/** Task and queue names: 1-200 letters, digits and _ . : - / (the SQL door checks the same). */
export const NAME_RE = /^[A-Za-z0-9_.:\-/]{1,200}$/;

declare global {
  // ES2024, in Node.js since 20; the project's lib setting stops at ES2023.
  interface String {
    isWellFormed(): boolean;
    toWellFormed(): string;
  }
}

export function isInt4(n: unknown): n is number {
  return Number.isInteger(n) && (n as number) >= INT4_MIN && (n as number) <= INT4_MAX;
}

/** Human form of a millisecond bound, for error messages. */
export function describeMs(ms: number): string {
  if (ms === MAX_DELAY_MS) return `10 years (${ms} ms)`;
  if (ms === MAX_TIMEOUT_MS) return `24 days (${ms} ms), the longest timer Node.js supports`;
  return `${ms} ms`;
}

/**
 * Why a string cannot be stored as PostgreSQL text or jsonb, or null when it
 * can: U+0000 is refused by both, and a lone UTF-16 surrogate is refused by
 * jsonb and silently turned into U+FFFD in text.
 */
export function badText(s: string): string | null {
  if (s.includes('\u0000')) return 'U+0000';
  if (!s.isWellFormed()) return 'a lone surrogate';
  return null;
}

/** `s` with U+0000 and lone surrogates replaced by U+FFFD, so that PostgreSQL stores it. */
export function cleanText(s: string): string {
  return s.replaceAll('\u0000', '\ufffd').toWellFormed();
}
