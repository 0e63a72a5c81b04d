import { toMs } from '../duration.js';
import { TandemError } from '../errors.js';
import {
  badText,
  INT4_MAX,
  INT4_MIN,
  isInt4,
  MAX_ATTEMPTS,
  MAX_DELAY_MS,
  MAX_KEY_LENGTH,
  NAME_RE,
  RUN_AT_MAX,
  RUN_AT_MIN,
} from '../limits.js';
import { formatIssues, type SchemaIssue, validate } from '../schema.js';
import type { AnyTask } from '../task.js';
import type { EnqueueOptions } from '../types.js';
import { resolveConcurrencyKey } from './concurrency-key.js';
import { toJson, toJsonText } from './json.js';

/** A task validated and serialised, ready for `taskInsertMany`. */
export interface PreparedTask {
  name: string;
  queue: string;
  payloadJson: string;
  key: string | null;
  priority: number;
  maxAttempts: number;
  runAt: string | null;
  delayMs: number | null;
  timeoutMs: number | null;
  metadataJson: string | null;
  /** From options.concurrencyKey, or the definition's template or function. */
  concurrencyKey: string | null;
}

const OPTION_KEYS = new Set([
  'key',
  'runAt',
  'delay',
  'priority',
  'queue',
  'maxAttempts',
  'metadata',
  'concurrencyKey',
]);

function invalid(task: string, msg: string): TandemError {
  return new TandemError('INVALID_OPTIONS', `enqueue(${JSON.stringify(task)}): ${msg}`);
}

/**
 * Validates the payload in the form the handler will receive: the JSON that
 * is stored (`stored`, the parsed text when some part went through toJSON,
 * else the value itself). A value that passes its schema only before JSON
 * (a Date for `z.date()`) is refused here rather than failing every attempt.
 */
function checkPayload(task: AnyTask, value: unknown, stored: unknown): unknown {
  const parsed = validate(task.schema, stored);
  if (parsed.ok) return parsed.value;
  const issues: SchemaIssue[] = parsed.issues;
  const list = formatIssues(issues);
  const asValue = stored !== value && validate(task.schema, value).ok;
  throw new TandemError(
    'INVALID_PAYLOAD',
    asValue
      ? `payload for task ${JSON.stringify(task.name)} is invalid as stored (JSON), which is what the handler receives: ${list} (a Date becomes an ISO string in JSON: accept a string, for example z.coerce.date() or z.iso.datetime() with zod)`
      : `payload for task ${JSON.stringify(task.name)} is invalid: ${list}`,
    issues,
  );
}

/**
 * Validates everything about one enqueue before any SQL runs, so a bad call
 * throws and leaves the caller's transaction usable.
 */
export function prepareTask(
  task: AnyTask,
  payload: unknown,
  options: EnqueueOptions | undefined,
  maxPayloadBytes: number,
): PreparedTask {
  const o = options ?? {};
  if (typeof o !== 'object' || o === null)
    throw invalid(task.name, `options must be an object, got ${o === null ? 'null' : typeof o}`);
  for (const k of Object.keys(o)) {
    if (!OPTION_KEYS.has(k)) {
      throw invalid(
        task.name,
        `unknown option ${JSON.stringify(k)}; known options: ${[...OPTION_KEYS].join(', ')}`,
      );
    }
  }
  const json = toJsonText(
    payload,
    'PAYLOAD_NOT_JSON',
    `payload for task ${JSON.stringify(task.name)}`,
  );
  const payloadJson = json.text;
  const size = Buffer.byteLength(payloadJson);
  if (size > maxPayloadBytes) {
    throw new TandemError(
      'PAYLOAD_TOO_LARGE',
      `payload for task ${JSON.stringify(task.name)} is ${size} bytes, over the ${maxPayloadBytes}-byte limit; store large data in your own table and pass its id, or raise maxPayloadBytes`,
    );
  }
  const stored = json.converted ? JSON.parse(payloadJson) : payload;
  const parsed = checkPayload(task, payload, stored);
  if (o.key !== undefined) {
    const bad = typeof o.key === 'string' ? badText(o.key) : null;
    if (typeof o.key !== 'string' || o.key.length === 0 || o.key.length > MAX_KEY_LENGTH || bad) {
      throw invalid(
        task.name,
        `key must be a non-empty string of at most ${MAX_KEY_LENGTH} characters${bad ? ` without ${bad}` : ''}, got ${JSON.stringify(o.key)}${bad ? ` (it contains ${bad}, which PostgreSQL cannot store as text)` : ''}`,
      );
    }
  }
  if (o.priority !== undefined && !isInt4(o.priority)) {
    throw invalid(
      task.name,
      `priority must be an integer from ${INT4_MIN} to ${INT4_MAX}, got ${JSON.stringify(o.priority)}`,
    );
  }
  if (
    o.maxAttempts !== undefined &&
    (!Number.isInteger(o.maxAttempts) || o.maxAttempts < 1 || o.maxAttempts > MAX_ATTEMPTS)
  ) {
    throw invalid(
      task.name,
      `maxAttempts must be an integer from 1 to ${MAX_ATTEMPTS}, got ${JSON.stringify(o.maxAttempts)}`,
    );
  }
  if (o.queue !== undefined && (typeof o.queue !== 'string' || !NAME_RE.test(o.queue))) {
    throw invalid(
      task.name,
      `queue must be 1-200 characters of letters, digits and _ . : - /, got ${JSON.stringify(o.queue)}`,
    );
  }
  if (o.runAt !== undefined && o.delay !== undefined) {
    throw invalid(task.name, 'give either runAt or delay, not both');
  }
  if (o.runAt !== undefined) {
    const t = o.runAt instanceof Date ? o.runAt.getTime() : Number.NaN;
    if (Number.isNaN(t)) {
      throw invalid(task.name, `runAt must be a valid Date, got ${JSON.stringify(o.runAt)}`);
    }
    if (t < RUN_AT_MIN || t > RUN_AT_MAX) {
      throw invalid(
        task.name,
        `runAt must be between 1970-01-01 and 9999-12-31, got ${o.runAt.toISOString()}`,
      );
    }
  }
  let delayMs: number | null = null;
  if (o.delay !== undefined) {
    try {
      delayMs = toMs(o.delay, 'delay', MAX_DELAY_MS);
    } catch (err) {
      throw invalid(task.name, (err as Error).message);
    }
  }
  let metadataJson: string | null = null;
  if (o.metadata !== undefined) {
    if (typeof o.metadata !== 'object' || o.metadata === null || Array.isArray(o.metadata)) {
      throw invalid(task.name, 'metadata must be a plain object');
    }
    metadataJson = toJson(
      o.metadata,
      'INVALID_OPTIONS',
      `enqueue(${JSON.stringify(task.name)}): metadata`,
    );
  }
  const concurrencyKey = resolveConcurrencyKey(task, o.concurrencyKey, stored, parsed);
  return {
    name: task.name,
    queue: o.queue ?? task.queue,
    payloadJson,
    key: o.key ?? null,
    priority: o.priority ?? task.priority,
    maxAttempts: o.maxAttempts ?? task.maxAttempts,
    runAt: o.runAt ? o.runAt.toISOString() : null,
    delayMs,
    timeoutMs: task.timeoutMs,
    metadataJson,
    concurrencyKey,
  };
}

type Column =
  | 'name'
  | 'queue'
  | 'key'
  | 'priority'
  | 'max_attempts'
  | 'run_at'
  | 'delay_ms'
  | 'timeout_ms'
  | 'concurrency_key';

const COLUMNS: readonly [Column, (t: PreparedTask) => string | number | null][] = [
  ['name', (t) => t.name],
  ['queue', (t) => t.queue],
  ['key', (t) => t.key],
  ['priority', (t) => t.priority],
  ['max_attempts', (t) => t.maxAttempts],
  ['run_at', (t) => t.runAt],
  ['delay_ms', (t) => t.delayMs],
  ['timeout_ms', (t) => t.timeoutMs],
  ['concurrency_key', (t) => t.concurrencyKey],
];

/** One element of a PostgreSQL array literal. */
function arrayElement(v: string | number | null): string {
  if (v === null) return 'NULL';
  if (typeof v === 'number') return String(v);
  return `"${v.replace(/[\\"]/g, '\\$&')}"`;
}

/**
 * The parameters of `taskInsertMany` after $2: the columns that are the same
 * for every task in one `shared` object, the others as array literals (empty
 * for shared columns), payloads and metadata as JSON arrays built from the
 * already-serialised texts. Building the literals here is several times
 * cheaper than pg's generic array encoder, and a batch of one task type
 * sends its name, queue and options once instead of once per row.
 */
export function toInsertParams(tasks: readonly PreparedTask[]): {
  payloads: string;
  shared: string;
  arrays: string[];
  metadata: string;
  concurrencyKeys: string;
} {
  const n = tasks.length;
  const shared: Record<string, unknown> = {};
  const arrays: string[] = [];
  for (const [column, get] of COLUMNS) {
    const first = get(tasks[0]!);
    let uniform = true;
    for (let i = 1; i < n && uniform; i++) uniform = get(tasks[i]!) === first;
    if (uniform) {
      shared[column] = first;
      arrays.push('{}');
      continue;
    }
    const parts = new Array<string>(n);
    for (let i = 0; i < n; i++) parts[i] = arrayElement(get(tasks[i]!));
    arrays.push(`{${parts.join(',')}}`);
  }
  const payloads = new Array<string>(n);
  const firstMeta = tasks[0]!.metadataJson;
  let metaUniform = true;
  for (let i = 0; i < n; i++) {
    const t = tasks[i]!;
    payloads[i] = t.payloadJson;
    if (t.metadataJson !== firstMeta) metaUniform = false;
  }
  let metadata = '[]';
  if (metaUniform) {
    if (firstMeta !== null) shared.metadata = JSON.parse(firstMeta);
  } else {
    metadata = `[${tasks.map((t) => t.metadataJson ?? 'null').join(',')}]`;
  }
  // The concurrency keys come last, after metadata ($13 of taskInsertMany).
  const concurrencyKeys = arrays.pop()!;
  return {
    payloads: `[${payloads.join(',')}]`,
    shared: JSON.stringify(shared),
    arrays,
    metadata,
    concurrencyKeys,
  };
}
