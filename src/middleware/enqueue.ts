import { toQueryable } from '../db/executor.js';
import { TandemError } from '../errors.js';
import type { AnyTask } from '../task.js';
import type { EnqueueOptions, EnqueueResult } from '../types.js';

/** Which enqueue call of the TypeScript client a task came through. */
export type EnqueueDoor = 'enqueue' | 'enqueueMany' | 'enqueueByName';

/**
 * One task on its way into `tandem.tasks`, as enqueue middleware sees it
 * before the insert. `payload`, `options` and `metadata` may be changed;
 * the task is validated and stored as they are when the innermost `next()`
 * runs.
 */
export interface EnqueueInfo {
  /** The task's name. */
  readonly name: string;
  /** Its definition, or null when enqueueByName names a task this process has no definition of. */
  readonly task: AnyTask | null;
  /** The queue it goes to: `options.queue`, else the definition's queue. */
  readonly queue: string;
  /** The payload, not yet validated. */
  payload: unknown;
  /** A copy of the caller's options (metadata apart: see `metadata`). */
  readonly options: Omit<EnqueueOptions, 'metadata'>;
  /** The task's metadata (a copy of the caller's, or empty); stored in `tasks.metadata`, given to handlers as `ctx.metadata`. */
  readonly metadata: Record<string, unknown>;
  /** Which call: `enqueue`, `enqueueMany` (also cron schedules and inboxes) or `enqueueByName` (also the HTTP API). */
  readonly door: EnqueueDoor;
  /**
   * What runs the insert: `'kysely'` (a Kysely instance or transaction),
   * `'pg'` (a pg Pool, Client or PoolClient) or `'tandem'` (Tandem's own
   * pool, for enqueueByName).
   */
  readonly executorKind: 'kysely' | 'pg' | 'tandem';
  /** The caller's executor itself (its transaction, when it gave one). */
  readonly executor: unknown;
}

/**
 * Runs around each enqueued task, in the caller's transaction, before its
 * row is inserted: call `next()` to insert (through the rest of the chain)
 * and return its result. A middleware that throws before `next()` rejects
 * the enqueue before any SQL runs, so the caller's transaction stays usable.
 * `enqueueMany` runs the chain once per item and inserts the batch in one
 * statement once every item's chain has reached `next()`.
 *
 * @example
 * const tenant: EnqueueMiddleware = (info, next) => {
 *   info.metadata.tenant = currentTenant();
 *   return next();
 * };
 * const tandem = createTandem({ connectionString, tasks, enqueueMiddleware: [tenant] });
 */
export type EnqueueMiddleware = (
  info: EnqueueInfo,
  next: () => Promise<EnqueueResult>,
) => Promise<EnqueueResult>;

/** The mutable record behind an EnqueueInfo. */
export class EnqueueCall implements EnqueueInfo {
  payload: unknown;
  readonly options: Omit<EnqueueOptions, 'metadata'>;
  readonly metadata: Record<string, unknown>;
  private readonly hadMetadata: boolean;

  constructor(
    readonly name: string,
    readonly task: AnyTask | null,
    payload: unknown,
    options: EnqueueOptions | undefined,
    readonly door: EnqueueDoor,
    readonly executor: unknown,
    readonly executorKind: 'kysely' | 'pg' | 'tandem',
  ) {
    this.payload = payload;
    const { metadata, ...rest } = options ?? {};
    this.options = rest;
    this.hadMetadata = metadata !== undefined;
    // A value that is not an object is left for enqueue's own check to refuse.
    this.metadata =
      typeof metadata === 'object' && metadata !== null && !Array.isArray(metadata)
        ? { ...metadata }
        : ((metadata as Record<string, unknown>) ?? {});
  }

  get queue(): string {
    return this.options.queue ?? this.task?.queue ?? 'default';
  }

  /** The options to insert with: metadata omitted when nobody gave or added any. */
  finalOptions(): EnqueueOptions {
    if (!this.hadMetadata && Object.keys(this.metadata).length === 0) return this.options;
    return { ...this.options, metadata: this.metadata };
  }
}

/** The executor's kind, after checking it is one (the same error enqueue gives, before any middleware). */
export function executorKind(executor: unknown): 'kysely' | 'pg' {
  toQueryable(executor);
  return typeof (executor as { executeQuery?: unknown }).executeQuery === 'function'
    ? 'kysely'
    : 'pg';
}

/** Runs `insert` inside `chain` for one task, first middleware outermost. */
export function runEnqueueChain(
  chain: readonly EnqueueMiddleware[],
  info: EnqueueInfo,
  insert: () => Promise<EnqueueResult>,
): Promise<EnqueueResult> {
  let reached = -1;
  const dispatch = (i: number): Promise<EnqueueResult> => {
    if (i <= reached) {
      return Promise.reject(
        new TandemError(
          'INVALID_STATE',
          `enqueue middleware #${i} of ${info.name} called next() more than once; call it once and await it`,
        ),
      );
    }
    reached = i;
    try {
      if (i === chain.length) return insert();
      return Promise.resolve(chain[i]!(info, () => dispatch(i + 1)));
    } catch (err) {
      return Promise.reject(err);
    }
  };
  return dispatch(0);
}

type Ended = { ok: true; value: EnqueueResult } | { ok: false; error: unknown };

/**
 * The chains of a batch: each item's chain runs up to its innermost
 * `next()`; once every chain got there (or ended without it), the items
 * that got there are inserted together and their `next()` resolve with
 * their rows. If any chain failed before reaching `next()`, nothing is
 * inserted, every waiting `next()` rejects, and so does the batch, with
 * that first error.
 */
export async function runEnqueueBatch(
  chain: readonly EnqueueMiddleware[],
  calls: readonly EnqueueCall[],
  insert: (calls: EnqueueCall[]) => Promise<EnqueueResult[]>,
): Promise<EnqueueResult[]> {
  const n = calls.length;
  const waiting: ({ resolve(r: EnqueueResult): void; reject(e: unknown): void } | null)[] =
    new Array(n).fill(null);
  const ended: (Ended | null)[] = new Array(n).fill(null);
  let pending = n;
  let allThere!: () => void;
  const there = new Promise<void>((res) => {
    allThere = res;
  });
  const done = calls.map((call, i) => {
    let counted = false;
    const arrive = () => {
      if (counted) return;
      counted = true;
      if (--pending === 0) allThere();
    };
    const p = runEnqueueChain(
      chain,
      call,
      () =>
        new Promise<EnqueueResult>((resolve, reject) => {
          waiting[i] = { resolve, reject };
          arrive();
        }),
    );
    return p.then(
      (value) => {
        ended[i] = { ok: true, value };
        arrive();
        return ended[i]!;
      },
      (error) => {
        ended[i] = { ok: false, error };
        arrive();
        return ended[i]!;
      },
    );
  });
  if (n > 0) await there;
  const failedEarly = ended.find((e) => e && !e.ok) as { ok: false; error: unknown } | undefined;
  const go: number[] = [];
  for (let i = 0; i < n; i++) if (waiting[i] && !ended[i]) go.push(i);
  if (failedEarly) {
    const why = new TandemError(
      'INVALID_STATE',
      'enqueueMany: the enqueue middleware of another item failed; nothing was inserted',
    );
    for (const i of go) waiting[i]!.reject(why);
    await Promise.all(done);
    throw failedEarly.error;
  }
  if (go.length > 0) {
    let rows: EnqueueResult[] | undefined;
    try {
      rows = await insert(go.map((i) => calls[i]!));
    } catch (err) {
      for (const i of go) waiting[i]!.reject(err);
    }
    if (rows) {
      for (let k = 0; k < go.length; k++) waiting[go[k]!]!.resolve(rows[k]!);
    }
  }
  const out = await Promise.all(done);
  return out.map((e) => {
    if (!e.ok) throw e.error;
    return e.value;
  });
}
