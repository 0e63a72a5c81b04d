import type { Queryable } from '../db/executor.js';
import { flowList, flowReset, flowSet } from '../db/queries/flow.js';
import { TandemError } from '../errors.js';
import {
  type RateLimit,
  type ResolvedRate,
  resolveConcurrency,
  resolveRate,
} from '../flow/options.js';
import { NAME_RE } from '../limits.js';

/** A queue, or a task name, that limits apply to. */
export type LimitTarget = { queue: string } | { task: string };

/**
 * Limits to set. A field left out keeps its current value; `null` removes
 * that limit. Per-key fields apply to task names with a concurrency key.
 */
export interface LimitsUpdate {
  concurrency?: number | null;
  rateLimit?: RateLimit | null;
  keyConcurrency?: number | null;
  keyRateLimit?: RateLimit | null;
  keyOrder?: 'strict' | 'skip';
}

/** The limits of one queue or task name, with what runs under them now. */
export interface LimitInfo {
  scope: 'queue' | 'task';
  name: string;
  concurrency: number | null;
  rate: ResolvedRate | null;
  /** Its tasks have a concurrency key: claimed round-robin across keys. */
  keyed: boolean;
  keyConcurrency: number | null;
  keyRate: ResolvedRate | null;
  keyOrder: 'strict' | 'skip';
  /** Tasks running under this limit now. */
  running: number;
  /** Starts within the current rate window; null without a rate limit. */
  recentStarts: number | null;
  /** Concurrency keys seen, and how many of them are at their limit now. */
  keys: number;
  keysAtLimit: number;
  /** 'definition' (from defineTask, written by workers) or 'operator' (set at run time). */
  source: 'definition' | 'operator';
  updatedAt: Date;
}

function checkTarget(target: LimitTarget): { scope: 'queue' | 'task'; name: string } {
  const t = target as { queue?: unknown; task?: unknown };
  const scope =
    typeof t?.queue === 'string' ? 'queue' : typeof t?.task === 'string' ? 'task' : null;
  const name = scope === 'queue' ? t.queue : t?.task;
  if (scope === null || typeof name !== 'string' || !NAME_RE.test(name)) {
    throw new TandemError(
      'INVALID_LIMIT',
      `limits apply to { queue: name } or { task: name }, a name of 1-200 letters, digits and _ . : - /; got ${JSON.stringify(target)}`,
    );
  }
  return { scope, name };
}

const rateOf = (limit: number | null, perMs: number | null): ResolvedRate | null =>
  limit === null || perMs === null ? null : { limit, perMs };

function toInfo(r: any): LimitInfo {
  return {
    scope: r.scope,
    name: r.name,
    concurrency: r.concurrency,
    rate: rateOf(r.rate_limit, r.rate_per_ms),
    keyed: r.keyed,
    keyConcurrency: r.key_concurrency,
    keyRate: rateOf(r.key_rate_limit, r.key_rate_per_ms),
    keyOrder: r.key_order,
    running: r.running,
    recentStarts: r.recent_starts,
    keys: r.keys,
    keysAtLimit: r.keys_at_limit,
    source: r.source,
    updatedAt: r.updated_at,
  };
}

/** Every queue and task name that has limits (or claims round-robin by key). */
export async function listLimits(sql: Queryable): Promise<LimitInfo[]> {
  return (await sql.query<any>(flowList)).map(toInfo);
}

/**
 * Sets limits at run time, for the whole fleet (workers pick them up within
 * a moment). What an operator sets stays until `resetLimits`, whatever the
 * task definitions say. Everything is checked before any SQL runs.
 */
export async function setLimits(
  sql: Queryable,
  target: LimitTarget,
  update: LimitsUpdate,
): Promise<LimitInfo> {
  const { scope, name } = checkTarget(target);
  if (typeof update !== 'object' || update === null) {
    throw new TandemError(
      'INVALID_LIMIT',
      'setLimits needs an object of limits, such as { concurrency: 5 }',
    );
  }
  const known = new Set(['concurrency', 'rateLimit', 'keyConcurrency', 'keyRateLimit', 'keyOrder']);
  for (const k of Object.keys(update)) {
    if (!known.has(k))
      throw new TandemError(
        'INVALID_LIMIT',
        `unknown limit ${JSON.stringify(k)}: use concurrency, rateLimit, keyConcurrency, keyRateLimit or keyOrder`,
      );
  }
  const perKey = ['keyConcurrency', 'keyRateLimit', 'keyOrder'].filter(
    (k) => (update as Record<string, unknown>)[k] !== undefined,
  );
  if (scope === 'queue' && perKey.length > 0) {
    throw new TandemError(
      'INVALID_LIMIT',
      `${perKey.join(', ')} apply per concurrency key of a task name: set them on { task: name }, not on a queue`,
    );
  }
  const concurrency = resolveConcurrency(update.concurrency, 'concurrency');
  const rate = resolveRate(update.rateLimit, 'rateLimit');
  const keyConcurrency = resolveConcurrency(update.keyConcurrency, 'keyConcurrency');
  const keyRate = resolveRate(update.keyRateLimit, 'keyRateLimit');
  if (update.keyOrder !== undefined && update.keyOrder !== 'strict' && update.keyOrder !== 'skip') {
    throw new TandemError(
      'INVALID_LIMIT',
      `keyOrder must be 'strict' or 'skip', got ${JSON.stringify(update.keyOrder)}`,
    );
  }
  const cur = (await listLimits(sql)).find((l) => l.scope === scope && l.name === name);
  const pick = <V>(given: unknown, resolved: V, current: V): V =>
    given === undefined ? current : resolved;
  const keyed = cur?.keyed ?? false;
  if (!keyed && (keyConcurrency !== null || keyRate !== null)) {
    throw new TandemError(
      'INVALID_LIMIT',
      `task ${JSON.stringify(name)} has no concurrency key: give its definition a concurrencyKey (and run a worker with it) before setting per-key limits`,
    );
  }
  const next = {
    concurrency: pick(update.concurrency, concurrency, cur?.concurrency ?? null),
    rate: pick(update.rateLimit, rate, cur?.rate ?? null),
    keyConcurrency: pick(update.keyConcurrency, keyConcurrency, cur?.keyConcurrency ?? null),
    keyRate: pick(update.keyRateLimit, keyRate, cur?.keyRate ?? null),
    keyOrder: update.keyOrder ?? cur?.keyOrder ?? 'strict',
  };
  await sql.query(flowSet, [
    scope,
    name,
    next.concurrency,
    next.rate?.limit ?? null,
    next.rate?.perMs ?? null,
    keyed,
    next.keyConcurrency,
    next.keyRate?.limit ?? null,
    next.keyRate?.perMs ?? null,
    next.keyOrder,
    'operator',
  ]);
  const after = (await listLimits(sql)).find((l) => l.scope === scope && l.name === name);
  return after!;
}

/**
 * Drops what an operator set on a queue or task name: the task
 * definitions' limits apply again (workers write them back at once).
 * Yields whether there was an operator's setting.
 */
export async function resetLimits(sql: Queryable, target: LimitTarget): Promise<boolean> {
  const { scope, name } = checkTarget(target);
  const rows = await sql.query(flowReset, [scope, name]);
  return rows.length > 0;
}
