/** Loads a user's task module (`--tasks`) and finds its task definitions. */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AnyTask } from '../task.js';
import type { Schedule } from '../worker/cron.js';
import { UsageError } from './errors.js';

/**
 * Whether a value is a task definition made by `defineTask`. Structural, so
 * definitions made by another copy of tandem-queue are recognised too.
 */
export function isTaskDefinition(value: unknown): value is AnyTask {
  if (typeof value !== 'object' || value === null) return false;
  const t = value as Record<string, unknown>;
  const schema = t.schema as { safeParse?: unknown } | null | undefined;
  return (
    typeof t.name === 'string' &&
    typeof t.handler === 'function' &&
    typeof t.backoff === 'object' &&
    t.backoff !== null &&
    typeof schema === 'object' &&
    schema !== null &&
    typeof schema.safeParse === 'function'
  );
}

/**
 * Imports a module by path (relative to the working directory), `.ts` or
 * `.js`. TypeScript loads through tsx when this process does not already
 * run under it.
 */
export async function importModule(path: string): Promise<Record<string, unknown>> {
  const url = pathToFileURL(path).href;
  try {
    return await import(url);
  } catch (err) {
    if ((err as { code?: string })?.code !== 'ERR_UNKNOWN_FILE_EXTENSION') throw err;
    const { tsImport } = await import('tsx/esm/api');
    return tsImport(url, import.meta.url);
  }
}

/**
 * Every task definition a module exports: named exports, and the entries of
 * a default export that is an array or a plain object of tasks.
 */
export function collectTasks(mod: Record<string, unknown>): AnyTask[] {
  const found = new Set<AnyTask>();
  for (const [name, value] of Object.entries(mod)) {
    if (isTaskDefinition(value)) found.add(value);
    else if (name === 'default' && value && typeof value === 'object') {
      for (const v of Array.isArray(value) ? value : Object.values(value)) {
        if (isTaskDefinition(v)) found.add(v);
      }
    }
  }
  return [...found];
}

/** Loads `spec` and returns its tasks; a usage error when there is no such file or no task in it. */
export async function loadTasks(spec: string): Promise<AnyTask[]> {
  const path = resolve(process.cwd(), spec);
  if (!existsSync(path) || !statSync(path).isFile()) {
    throw new UsageError(
      `--tasks ${spec}: no such file (looked for ${path}); give the path of a module that exports your defineTask(...) definitions`,
    );
  }
  const mod = await importModule(path);
  const tasks = collectTasks(mod);
  if (tasks.length === 0) {
    const names = Object.keys(mod);
    throw new UsageError(
      `--tasks ${spec}: the module exports no task definitions (values made by defineTask); its exports: ${names.length ? names.join(', ') : 'none'}`,
    );
  }
  return tasks;
}

/**
 * The cron schedules a task module exports as `schedules` (an array of
 * `{ name, cron, task, … }`), or none. The module is already loaded by
 * `loadTasks`, so this import is served from the module cache.
 */
export async function loadSchedules(spec: string): Promise<Schedule[]> {
  const mod = await importModule(resolve(process.cwd(), spec));
  const schedules = mod.schedules;
  if (schedules === undefined) return [];
  if (!Array.isArray(schedules)) {
    throw new UsageError(
      `--tasks ${spec}: its "schedules" export must be an array of { name, cron, task }`,
    );
  }
  return schedules as Schedule[];
}
