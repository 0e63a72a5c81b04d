import { toMs } from '../duration.js';
import { TandemError } from '../errors.js';
import type { AnyTask } from '../task.js';
import type { EnqueueOptions } from '../types.js';
import { toJson } from './json.js';

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
}

const QUEUE_RE = /^[A-Za-z0-9_.:\-/]{1,200}$/;
const OPTION_KEYS = new Set([
  'key',
  'runAt',
  'delay',
  'priority',
  'queue',
  'maxAttempts',
  'metadata',
]);

function invalid(task: string, msg: string): TandemError {
  return new TandemError('INVALID_OPTIONS', `enqueue(${JSON.stringify(task)}): ${msg}`);
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
  if (typeof o !== 'object') throw invalid(task.name, `options must be an object, got ${typeof o}`);
  for (const k of Object.keys(o)) {
    if (!OPTION_KEYS.has(k)) {
      throw invalid(
        task.name,
        `unknown option ${JSON.stringify(k)}; known options: ${[...OPTION_KEYS].join(', ')}`,
      );
    }
  }
  const parsed = task.schema.safeParse(payload);
  if (!parsed.success) {
    const zodIssues = parsed.error.issues as { path: PropertyKey[]; message: string }[];
    const issues = zodIssues.map((i) => ({
      path: i.path.map(String).join('.') || '(root)',
      message: i.message,
    }));
    throw new TandemError(
      'INVALID_PAYLOAD',
      `payload for task ${JSON.stringify(task.name)} is invalid: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
      issues,
    );
  }
  const payloadJson = toJson(
    payload,
    'PAYLOAD_NOT_JSON',
    `payload for task ${JSON.stringify(task.name)}`,
  );
  const size = Buffer.byteLength(payloadJson);
  if (size > maxPayloadBytes) {
    throw new TandemError(
      'PAYLOAD_TOO_LARGE',
      `payload for task ${JSON.stringify(task.name)} is ${size} bytes, over the ${maxPayloadBytes}-byte limit; store large data in your own table and pass its id, or raise maxPayloadBytes`,
    );
  }
  if (
    o.key !== undefined &&
    (typeof o.key !== 'string' || o.key.length === 0 || o.key.length > 500)
  ) {
    throw invalid(
      task.name,
      `key must be a non-empty string of at most 500 characters, got ${JSON.stringify(o.key)}`,
    );
  }
  if (o.priority !== undefined && !Number.isInteger(o.priority)) {
    throw invalid(task.name, `priority must be an integer, got ${JSON.stringify(o.priority)}`);
  }
  if (o.priority !== undefined && Math.abs(o.priority) > 2_147_483_647) {
    throw invalid(task.name, `priority must fit in 32 bits, got ${o.priority}`);
  }
  if (o.maxAttempts !== undefined && (!Number.isInteger(o.maxAttempts) || o.maxAttempts < 1)) {
    throw invalid(
      task.name,
      `maxAttempts must be an integer of at least 1, got ${JSON.stringify(o.maxAttempts)}`,
    );
  }
  if (o.queue !== undefined && (typeof o.queue !== 'string' || !QUEUE_RE.test(o.queue))) {
    throw invalid(
      task.name,
      `queue must be 1-200 characters of letters, digits and _ . : - /, got ${JSON.stringify(o.queue)}`,
    );
  }
  if (o.runAt !== undefined && o.delay !== undefined) {
    throw invalid(task.name, 'give either runAt or delay, not both');
  }
  if (o.runAt !== undefined && (!(o.runAt instanceof Date) || Number.isNaN(o.runAt.getTime()))) {
    throw invalid(task.name, `runAt must be a valid Date, got ${JSON.stringify(o.runAt)}`);
  }
  let delayMs: number | null = null;
  if (o.delay !== undefined) {
    try {
      delayMs = toMs(o.delay, 'delay');
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
      `metadata for task ${JSON.stringify(task.name)}`,
    );
  }
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
  };
}

/**
 * The parameters of `taskInsertMany` (after $2): payloads as one JSON array
 * built from the already-serialised payload texts, other columns as arrays.
 */
export function toInsertParams(tasks: readonly PreparedTask[]): {
  payloads: string;
  columns: unknown[];
} {
  const n = tasks.length;
  const payloads = new Array<string>(n);
  const names = new Array<string>(n);
  const queues = new Array<string>(n);
  const keys = new Array<string | null>(n);
  const priorities = new Array<number>(n);
  const maxAttempts = new Array<number>(n);
  const runAts = new Array<string | null>(n);
  const delays = new Array<number | null>(n);
  const timeouts = new Array<number | null>(n);
  const metadata = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    const t = tasks[i]!;
    payloads[i] = t.payloadJson;
    names[i] = t.name;
    queues[i] = t.queue;
    keys[i] = t.key;
    priorities[i] = t.priority;
    maxAttempts[i] = t.maxAttempts;
    runAts[i] = t.runAt;
    delays[i] = t.delayMs;
    timeouts[i] = t.timeoutMs;
    metadata[i] = t.metadataJson ?? 'null';
  }
  return {
    payloads: `[${payloads.join(',')}]`,
    columns: [
      names,
      queues,
      keys,
      priorities,
      maxAttempts,
      runAts,
      delays,
      timeouts,
      `[${metadata.join(',')}]`,
    ],
  };
}
