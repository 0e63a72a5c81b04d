import type { Command } from 'commander';
import type { EnqueueOptions, EnqueueResult, TaskState } from '../../types.js';
import { UsageError } from '../errors.js';
import { loadTaskModule } from '../load-tasks.js';
import {
  type DatabaseOptions,
  databaseUrlOption,
  parseDuration,
  parseInteger,
  parsePositiveInteger,
  parseQueueName,
} from '../options.js';
import { printJson } from '../output.js';

interface EnqueueCliOptions extends DatabaseOptions {
  key?: string;
  queue?: string;
  delay?: number;
  priority?: number;
  maxAttempts?: number;
  concurrencyKey?: string;
  tasks?: string;
}

export function register(program: Command): void {
  program
    .command('enqueue')
    .description(
      'enqueue a task and print { id, inserted, state } as JSON; inserted is false when --key already has a task',
    )
    .argument('<name>', 'task name')
    .argument('<json>', `payload as JSON, e.g. '{"orderId":1}'`)
    .option('--key <key>', 'business key: one task per (name, key) while the task row exists')
    .option(
      '--queue <queue>',
      "queue (default: the task's queue from --tasks or the task registry, else 'default')",
      parseQueueName,
    )
    .option(
      '--delay <duration>',
      'run no earlier than this from now: 500ms, 30s, 5m…',
      parseDuration,
    )
    .option(
      '--priority <n>',
      "lower runs first (default: the task's priority from --tasks or the registry, else 0)",
      parseInteger,
    )
    .option(
      '--max-attempts <n>',
      "first run plus retries (default: the task's, from --tasks or the registry, else 4)",
      parsePositiveInteger,
    )
    .option(
      '--concurrency-key <key>',
      "concurrency key (default: made from the payload by the task's key template)",
    )
    .option(
      '--tasks <module>',
      "validate the payload with the task's schema from this module (default: SQL tandem.enqueue, which applies the registered definition's queue, attempts, timeout and concurrency key)",
    )
    .addOption(databaseUrlOption())
    .addHelpText(
      'after',
      `
Examples:
  $ tandem enqueue send-receipt '{"orderId":1}' --key receipt:1 --delay 30s
  $ tandem enqueue send-receipt '{"orderId":2}' --tasks ./tasks.ts`,
    )
    .action(async (name: string, json: string, opts: EnqueueCliOptions) => {
      const payload = parsePayload(json);
      const options: EnqueueOptions = {};
      if (opts.key !== undefined) options.key = opts.key;
      if (opts.queue !== undefined) options.queue = opts.queue;
      if (opts.delay !== undefined) options.delay = opts.delay;
      if (opts.priority !== undefined) options.priority = opts.priority;
      if (opts.maxAttempts !== undefined) options.maxAttempts = opts.maxAttempts;
      if (opts.concurrencyKey !== undefined) options.concurrencyKey = opts.concurrencyKey;
      const tasks = opts.tasks ? (await loadTaskModule(opts.tasks)).tasks : [];
      if (opts.tasks && !tasks.some((t) => t.name === name)) {
        throw new UsageError(
          `unknown task ${JSON.stringify(name)}: ${opts.tasks} exports ${tasks.map((t) => t.name).join(', ')}`,
        );
      }
      const { withTandem } = await import('../context.js');
      await withTandem(
        opts,
        async (tandem, db) => {
          const result = opts.tasks
            ? await tandem.enqueue(tandem.pool, name, payload, options)
            : await enqueueBySql(db.connectionString, name, payload, options);
          printJson(result, false);
        },
        tasks,
      );
    });
}

function parsePayload(json: string): unknown {
  try {
    return JSON.parse(json);
  } catch (err) {
    const shown = json.length > 60 ? `${json.slice(0, 60)}…` : json;
    throw new UsageError(
      `the payload argument is not valid JSON (${(err as Error).message}): ${JSON.stringify(shown)}; quote it for the shell, e.g. '{"orderId":1}'`,
    );
  }
}

/**
 * Enqueues through the SQL function, like any other language would. Whether
 * the row is new is read from its xmin: a row this transaction inserted
 * carries this transaction's id; a key that already had a task does not.
 */
async function enqueueBySql(
  connectionString: string,
  name: string,
  payload: unknown,
  o: EnqueueOptions,
): Promise<EnqueueResult> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    await client.query('begin');
    const { rows } = await client.query<{ id: string }>(
      `select tandem.enqueue($1, $2::jsonb, key => $3, queue => $4,
         run_at => case when $5::bigint is null then null
                        else now() + $5::bigint * interval '1 millisecond' end,
         priority => $6, max_attempts => $7, concurrency_key => $8)::text as id`,
      [
        name,
        JSON.stringify(payload),
        o.key ?? null,
        o.queue ?? null,
        o.delay ?? null,
        o.priority ?? null,
        o.maxAttempts ?? null,
        o.concurrencyKey ?? null,
      ],
    );
    const id = rows[0]!.id;
    const { rows: found } = await client.query<{ state: TaskState; inserted: boolean }>(
      `select state, xmin = pg_current_xact_id()::xid as inserted from tandem.tasks where id = $1`,
      [id],
    );
    await client.query('commit');
    return { id, inserted: found[0]?.inserted ?? false, state: found[0]?.state ?? 'queued' };
  } catch (err) {
    await client.query('rollback').catch(() => {});
    throw err;
  } finally {
    await client.end();
  }
}
