import { TandemError, type TandemErrorCode } from '../errors.js';
import { badText } from '../limits.js';

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

/** What the walk learnt besides problems. */
interface Walk {
  /** Some object serialises through toJSON (a Date, a Buffer…): its JSON form differs from it. */
  converted: boolean;
}

/**
 * Finds what JSON.stringify would drop or mangle silently (functions,
 * symbols, NaN/Infinity, undefined in arrays, Maps and Sets, invalid Dates)
 * or refuse (BigInt). A plain walk plus native stringify is about twice as
 * fast as a replacer.
 */
function findProblem(value: unknown, depth: number, walk: Walk): Problem | null {
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
      if (value instanceof Date) {
        walk.converted = true;
        return Number.isNaN(value.getTime())
          ? { what: 'an invalid Date', advice: 'it would become null', path: [] }
          : null;
      }
      if (value instanceof Map || value instanceof Set) {
        const kind = value instanceof Map ? 'a Map' : 'a Set';
        return {
          what: kind,
          advice: `it would become {}; convert it to ${value instanceof Map ? 'an object' : 'an array'}`,
          path: [],
        };
      }
      if (typeof (value as { toJSON?: unknown }).toJSON === 'function') {
        walk.converted = true;
        return null;
      }
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          const p =
            value[i] === undefined
              ? { what: 'undefined', advice: 'it would become null', path: [] }
              : findProblem(value[i], depth + 1, walk);
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
        const p = findProblem(v, depth + 1, walk);
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

/** Finds a string value or key that PostgreSQL cannot store (U+0000, a lone surrogate). */
function findBadText(value: unknown, depth: number): Problem | null {
  if (typeof value === 'string') {
    const bad = badText(value);
    return bad
      ? { what: bad, advice: 'PostgreSQL cannot store it in text or jsonb', path: [] }
      : null;
  }
  if (typeof value !== 'object' || value === null || depth > MAX_WALK_DEPTH) return null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const p = findBadText(value[i], depth + 1);
      if (p) {
        p.path.push(String(i));
        return p;
      }
    }
    return null;
  }
  for (const k in value) {
    const bad = badText(k);
    if (bad) {
      return {
        what: `${bad} in a key`,
        advice: 'PostgreSQL cannot store it in jsonb',
        path: [JSON.stringify(k)],
      };
    }
    const p = findBadText((value as Record<string, unknown>)[k], depth + 1);
    if (p) {
      p.path.push(k);
      return p;
    }
  }
  return null;
}

/** The JSON text of a value, and whether its JSON form differs from the value itself. */
export interface JsonText {
  text: string;
  /** Some part serialised through toJSON (a Date becomes a string): validate the parsed text. */
  converted: boolean;
}

/**
 * JSON.stringify that refuses what would not round-trip (BigInt, functions,
 * symbols, NaN/Infinity, cycles, Maps, Sets, invalid Dates) or what
 * PostgreSQL cannot store (U+0000 and lone surrogates, in values and keys)
 * instead of dropping, mangling or failing on it inside a transaction.
 */
export function toJsonText(value: unknown, code: TandemErrorCode, what: string): JsonText {
  const walk: Walk = { converted: false };
  const problem = findProblem(value, 0, walk);
  if (problem)
    throw new TandemError(
      code,
      `${what} does not serialise to JSON: it contains ${describe(problem)}`,
    );
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    const message = String((err as Error)?.message);
    const reason = message.includes('circular') ? 'a circular reference' : message;
    throw new TandemError(code, `${what} does not serialise to JSON: it contains ${reason}`);
  }
  if (text === undefined)
    throw new TandemError(code, `${what} does not serialise to JSON: got ${typeof value}`);
  // JSON.stringify writes U+0000 and lone surrogates as \u escapes: only a
  // text with an escape needs the walk that finds where.
  if (text.includes('\\u')) {
    const bad = findBadText(value, 0);
    if (bad) throw new TandemError(code, `${what} cannot be stored: it contains ${describe(bad)}`);
    if (/\\u(0000|d[89a-f])/i.test(text) && walk.converted) {
      const parsedBad = findBadText(JSON.parse(text), 0);
      if (parsedBad)
        throw new TandemError(
          code,
          `${what} cannot be stored: its JSON form (after toJSON) contains ${describe(parsedBad)}`,
        );
    }
  }
  return { text, converted: walk.converted };
}

/** `toJsonText`, for callers that only need the text. */
export function toJson(value: unknown, code: TandemErrorCode, what: string): string {
  return toJsonText(value, code, what).text;
}
