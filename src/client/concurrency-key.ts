import { TandemError } from '../errors.js';
import { badText, MAX_KEY_LENGTH } from '../limits.js';
import { type AnyTask, KEY_TEMPLATE_RE } from '../task.js';

function invalid(task: string, msg: string): TandemError {
  return new TandemError('INVALID_CONCURRENCY_KEY', `enqueue(${JSON.stringify(task)}): ${msg}`);
}

/**
 * Checks a concurrency key: a non-empty string of at most 500 characters
 * that PostgreSQL can store as text. `source` says where it came from.
 */
export function checkConcurrencyKey(task: string, value: unknown, source: string): string {
  const bad = typeof value === 'string' ? badText(value) : null;
  if (
    typeof value !== 'string' ||
    value.length === 0 ||
    value.length > MAX_KEY_LENGTH ||
    bad !== null
  ) {
    const seen =
      typeof value === 'string'
        ? value.length > 80
          ? `a string of ${value.length} characters`
          : JSON.stringify(value)
        : value === null
          ? 'null'
          : typeof value;
    throw invalid(
      task,
      `${source} must give a non-empty string of at most ${MAX_KEY_LENGTH} characters${bad ? ` without ${bad}` : ''}, got ${seen}${bad ? ` (it contains ${bad}, which PostgreSQL cannot store as text)` : ''}`,
    );
  }
  return value;
}

/**
 * Expands a template such as `'customer:{customerId}'` from the payload as
 * stored (JSON), exactly as SQL `tandem.concurrency_key` does: strings as
 * they are, numbers and booleans as their JSON text; a field that is
 * missing or null, an object or an array is an error naming it.
 */
export function expandKeyTemplate(task: string, template: string, payload: unknown): string {
  return template.replace(KEY_TEMPLATE_RE, (_, path: string) => {
    let v: unknown = payload;
    for (const part of path.split('.')) {
      v =
        v !== null && typeof v === 'object' && !Array.isArray(v) && Object.hasOwn(v, part)
          ? (v as Record<string, unknown>)[part]
          : undefined;
    }
    if (v === undefined || v === null) {
      throw invalid(
        task,
        `the concurrency key template ${JSON.stringify(template)} needs payload field ${JSON.stringify(path)}, which is missing; add it to the payload, or give options.concurrencyKey`,
      );
    }
    if (typeof v === 'object') {
      throw invalid(
        task,
        `the concurrency key template ${JSON.stringify(template)} uses payload field ${JSON.stringify(path)}, which is ${Array.isArray(v) ? 'an array' : 'an object'}, not a string, number or boolean`,
      );
    }
    return String(v);
  });
}

/**
 * The concurrency key of one enqueue, before any SQL runs: the one given in
 * the options, else the definition's template expanded from `stored` (the
 * payload as JSON) or its function applied to `parsed` (the payload as the
 * handler receives it). Null when the definition has none.
 */
export function resolveConcurrencyKey(
  task: AnyTask,
  given: unknown,
  stored: unknown,
  parsed: unknown,
): string | null {
  if (given !== undefined) return checkConcurrencyKey(task.name, given, 'options.concurrencyKey');
  const k = task.concurrencyKey;
  if (k === null || k === undefined) return null;
  if (typeof k === 'string') {
    return checkConcurrencyKey(
      task.name,
      expandKeyTemplate(task.name, k, stored),
      `the concurrency key template ${JSON.stringify(k)}`,
    );
  }
  let value: unknown;
  try {
    value = k(parsed);
  } catch (err) {
    throw invalid(
      task.name,
      `the concurrencyKey function threw: ${(err as Error)?.message ?? String(err)}; fix the function or the payload, or give options.concurrencyKey`,
    );
  }
  return checkConcurrencyKey(task.name, value, 'the concurrencyKey function');
}
