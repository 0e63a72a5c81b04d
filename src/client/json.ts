import { TandemError, type TandemErrorCode } from '../errors.js';

function strictReplacer(this: unknown, key: string, value: unknown): unknown {
  switch (typeof value) {
    case 'bigint':
      throw new TypeError(`a BigInt at ${pathOf(key)} (convert it to a string or number)`);
    case 'function':
    case 'symbol':
      throw new TypeError(`a ${typeof value} at ${pathOf(key)} (JSON has no such value)`);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`${value} at ${pathOf(key)} (JSON numbers must be finite)`);
      return value;
    case 'undefined':
      // undefined inside arrays would silently become null
      if (Array.isArray(this)) throw new TypeError(`undefined in an array at ${pathOf(key)}`);
      return value;
    default:
      return value;
  }
}

function pathOf(key: string): string {
  return key === '' ? 'the top level' : `key ${JSON.stringify(key)}`;
}

/**
 * JSON.stringify that refuses what would not round-trip (BigInt, functions,
 * symbols, NaN/Infinity, cycles) instead of dropping or mangling it.
 */
export function toJson(value: unknown, code: TandemErrorCode, what: string): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value, strictReplacer);
  } catch (err) {
    const reason = (err as Error).message.includes('circular')
      ? 'a circular reference'
      : (err as Error).message;
    throw new TandemError(code, `${what} does not serialise to JSON: it contains ${reason}`);
  }
  if (text === undefined) throw new TandemError(code, `${what} does not serialise to JSON: got ${typeof value}`);
  return text;
}
