import { TandemError, type TandemErrorCode } from '../errors.js';

/** Past this depth the walk stops and JSON.stringify alone decides (it throws on cycles). */
const MAX_WALK_DEPTH = 64;

function describe(path: string[]): string {
  return path.length === 0 ? 'the top level' : path.join('.');
}

/**
 * Finds what JSON.stringify would drop or mangle silently (functions,
 * symbols, NaN/Infinity, undefined in arrays) or refuse (BigInt). A plain
 * walk plus native stringify is about twice as fast as a replacer.
 */
function findProblem(value: unknown, path: string[]): string | null {
  switch (typeof value) {
    case 'bigint':
      return `a BigInt at ${describe(path)} (convert it to a string or number)`;
    case 'function':
    case 'symbol':
      return `a ${typeof value} at ${describe(path)} (JSON has no such value)`;
    case 'number':
      return Number.isFinite(value)
        ? null
        : `${value} at ${describe(path)} (JSON numbers must be finite)`;
    case 'object': {
      if (value === null || path.length > MAX_WALK_DEPTH) return null;
      if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return null;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          if (value[i] === undefined)
            return `undefined at ${describe([...path, String(i)])} (it would become null)`;
          const p = findProblem(value[i], path.concat(String(i)));
          if (p) return p;
        }
        return null;
      }
      for (const k in value) {
        const v = (value as Record<string, unknown>)[k];
        if (v === undefined) continue;
        const p = findProblem(v, path.concat(k));
        if (p) return p;
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
  const problem = findProblem(value, []);
  if (problem)
    throw new TandemError(code, `${what} does not serialise to JSON: it contains ${problem}`);
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
