/**
 * Loads a user's task module (`--tasks`): its task definitions and its
 * optional `schedules`. The module only defines tasks; the command that
 * loads it connects to the database and creates the Tandem instance.
 */
import { existsSync, statSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isPayloadSchema } from '../schema.js';
import type { AnyTask } from '../task.js';
import type { Schedule } from '../worker/cron.js';
import { CliError, UsageError } from './errors.js';

const JS_EXTENSIONS = ['.js', '.mjs', '.cjs'];
const TS_EXTENSIONS = ['.ts', '.mts', '.cts', '.tsx'];

/**
 * Whether a value is a task definition made by `defineTask`. Structural, so
 * definitions made by another copy of tandem-queue are recognised too.
 */
export function isTaskDefinition(value: unknown): value is AnyTask {
  if (typeof value !== 'object' || value === null) return false;
  const t = value as Record<string, unknown>;
  return (
    typeof t.name === 'string' &&
    typeof t.handler === 'function' &&
    typeof t.backoff === 'object' &&
    t.backoff !== null &&
    isPayloadSchema(t.schema)
  );
}

/** Running under a TypeScript loader already (tsx, vitest): `.ts` imports just work. */
const underTsLoader = () => /\.[cm]?tsx?$/.test(import.meta.url);

/** Node 22.18+ and 24 strip types from `.ts` files themselves. */
const nodeStripsTypes = () => Boolean((process.features as { typescript?: unknown }).typescript);

/**
 * Errors raised while Node resolves and parses a module graph, before any of
 * it runs: after one of these, loading the module again through tsx cannot
 * run its code twice.
 */
function failedBeforeRunning(err: unknown): boolean {
  const code = (err as { code?: string })?.code ?? '';
  return (
    err instanceof SyntaxError ||
    code === 'ERR_MODULE_NOT_FOUND' ||
    code === 'ERR_UNKNOWN_FILE_EXTENSION' ||
    code.startsWith('ERR_UNSUPPORTED_TYPESCRIPT') ||
    code === 'ERR_INVALID_TYPESCRIPT_SYNTAX'
  );
}

/**
 * Imports a module by path: JavaScript natively; TypeScript with Node's own
 * type stripping where Node has it (no loader to start), else, or when that
 * fails (syntax Node cannot erase, imports of `./x.js` meaning `./x.ts`),
 * through tsx when it is installed.
 */
export async function importModule(
  path: string,
  spec = path,
  flag = '--tasks',
): Promise<Record<string, unknown>> {
  const url = pathToFileURL(path).href;
  const ts = TS_EXTENSIONS.includes(extname(path));
  let nativeError: unknown = null;
  if (!ts || underTsLoader() || nodeStripsTypes()) {
    try {
      return await import(url);
    } catch (err) {
      if (!ts || underTsLoader() || !failedBeforeRunning(err))
        throw loadFailed(`${flag} ${spec}`, err);
      nativeError = err;
    }
  }
  // Tandem itself first, natively: the module's `import 'tandem-queue'` then
  // finds it loaded, instead of passing its hundreds of files (kysely, pg,
  // pino) through tsx's loader thread. About 0.2 s of a 0.55 s start on Node 20.
  await import('../index.js');
  const tsx = await import('tsx/esm/api').catch(() => null);
  if (!tsx) {
    const why = nativeError
      ? `Node could not load it (${describeLoadError(nativeError)}) and tsx is not installed`
      : 'this Node cannot load TypeScript and tsx is not installed';
    throw new UsageError(
      `${flag} ${spec}: ${why}: npm install tsx, or compile the module and pass the .js file`,
    );
  }
  // register() once and a plain import: about 0.3 s faster than tsImport(),
  // which sets up a loader of its own per call. After a failed native
  // attempt the URL gets a query, so the failed module record is not reused.
  tsx.register();
  try {
    return await import(nativeError ? `${url}?tsx` : url);
  } catch (err) {
    throw loadFailed(`${flag} ${spec}`, err);
  }
}

function loadFailed(what: string, err: unknown): CliError {
  return new CliError(`${what}: the module failed to load: ${describeLoadError(err)}`);
}

/** The error's message and, when the stack names a file of the user's, that place. */
function describeLoadError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const frame = err.stack
    ?.split('\n')
    .slice(1)
    .map((l) => l.trim())
    .find((l) => l.startsWith('at ') && !l.includes('node_modules') && !l.includes('node:'));
  const where = frame ? ` (${frame.replace(/^at (.* \()?(.*?)\)?$/, '$2')})` : '';
  // esbuild puts the useful part on the second line ("Transform failed with 1 error:\n<where>: <what>").
  const message = err.message
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(0, 2)
    .join(' ');
  return `${message}${where}`;
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

export interface TaskModule {
  tasks: AnyTask[];
  /** The module's `schedules` export: cron schedules of `{ name, cron, task, … }`. */
  schedules: Schedule[];
}

/**
 * Loads `spec` (a path relative to the working directory) once and returns
 * its tasks and schedules. Usage errors, before anything is imported, for a
 * missing file or one that is not a JavaScript or TypeScript module; a usage
 * error after, for a module with no task definitions.
 */
export async function loadTaskModule(spec: string): Promise<TaskModule> {
  const path = resolve(process.cwd(), spec);
  if (!existsSync(path)) {
    throw new UsageError(
      `--tasks ${spec}: no such file (looked for ${path}); give the path of a module that exports your defineTask(...) definitions`,
    );
  }
  if (!statSync(path).isFile()) {
    throw new UsageError(
      `--tasks ${spec} is a directory; give the path of a module file that exports your defineTask(...) definitions`,
    );
  }
  const ext = extname(path);
  if (!JS_EXTENSIONS.includes(ext) && !TS_EXTENSIONS.includes(ext)) {
    throw new UsageError(
      `--tasks ${spec} is not a JavaScript or TypeScript module (${[...JS_EXTENSIONS, ...TS_EXTENSIONS].join(', ')}); give the module that exports your defineTask(...) definitions`,
    );
  }
  const mod = await importModule(path, spec);
  const tasks = collectTasks(mod);
  if (tasks.length === 0) {
    const names = Object.keys(mod);
    throw new UsageError(
      `--tasks ${spec}: the module exports no task definitions (values made by defineTask); its exports: ${names.length ? names.join(', ') : 'none'}`,
    );
  }
  const schedules = mod.schedules;
  if (schedules !== undefined && !Array.isArray(schedules)) {
    throw new UsageError(
      `--tasks ${spec}: its "schedules" export must be an array of { name, cron, task }`,
    );
  }
  return { tasks, schedules: (schedules ?? []) as Schedule[] };
}
