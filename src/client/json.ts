import { TandemError, type TandemErrorCode } from '../errors.js';

/** Past this depth the walk stops and JSON.stringify alone decides (it throws on cycles). */
const MAX_WALK_DEPTH = 64;

interface Problem {
  /** What was found, e.g. "a BigInt". */
  what: string;
  /** How to fix it, in parentheses after the location. */
  advice: string;
  /** Where, innermost key first: filled in on the way back up, so a clean walk allocates nothing. */
  path: string[];
}

function describe(p: Problem): string {
  const where = p.path.length === 0 ? 'the top level' : p.path.reverse().join('.');
  return `${p.what} at ${where} (${p.advice})`;
}

/**
 * Finds what JSON.stringify would drop or mangle silently (functions,
 * symbols, NaN/Infinity, undefined in arrays) or refuse (BigInt). A plain
 * walk plus native stringify is about twice as fast as a replacer.
 */
function findProblem(value: unknown, depth: number): Problem | null {
  switch (typeof value) {
    case 'bigint':
      return { what: 'a BigInt', advice: 'convert it to a string or number', path: [] };
    case 'function':
    case 'symbol':
      return { what: `a ${typeof value}`, advice: 'JSON has no such value', path: [] };
    case 'number':
      return Number.isFinite(value)
        ? null
        : { what: String(value), advice: 'JSON numbers must be finite', path: [] };
    case 'object': {
      if (value === null || depth > MAX_WALK_DEPTH) return null;
      if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return null;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          const p =
            value[i] === undefined
              ? { what: 'undefined', advice: 'it would become null', path: [] }
              : findProblem(value[i], depth + 1);
          if (p) {
            p.path.push(String(i));
            return p;
          }
        }
        return null;
      }
      for (const k in value) {
        const v = (value as Record<string, unknown>)[k];
        if (v === undefined) continue;
        const p = findProblem(v, depth + 1);
        if (p) {
          p.path.push(k);
          return p;
        }
      }
      return null;
    }
    default:
      return null;
  }
}

/**
 * JSON.stringify that refuses what would not round-trip (BigInt, functions,
 * symbols, NaN/Infinity, cycles) instead of dropping or mangling it.
 */
export function toJson(value: unknown, code: TandemErrorCode, what: string): string {
  const problem = findProblem(value, 0);
  if (problem)
    throw new TandemError(
      code,
      `${what} does not serialise to JSON: it contains ${describe(problem)}`,
    );
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    const reason = (err as Error).message.includes('circular')
      ? 'a circular reference'
      : (err as Error).message;
    throw new TandemError(code, `${what} does not serialise to JSON: it contains ${reason}`);
  }
  if (text === undefined)
    throw new TandemError(code, `${what} does not serialise to JSON: got ${typeof value}`);
  return text;
}
