import type { Command } from 'commander';
import type { AnyTask } from '../../task.js';
import { openDatabase } from '../database.js';
import { loadTaskModule } from '../load-tasks.js';
import { type DatabaseOptions, databaseUrlOption, parseDuration, parseQueues } from '../options.js';
import { trapShutdown, untilAborted } from '../signals.js';

interface WorkerCliOptions extends DatabaseOptions {
  tasks: string;
  queues?: Record<string, number>;
  pollInterval?: number;
  shutdownTimeout?: number;
  listen: boolean;
}

export function register(program: Command): void {
  program
    .command('worker')
    .description('run the tasks of a module until SIGINT/SIGTERM, then shut down gracefully')
    .requiredOption(
      '--tasks <module>',
      'module exporting your defineTask(...) definitions and optionally `schedules` (.js, or .ts with tsx installed; relative to the working directory)',
    )
    .option(
      '--queues <spec>',
      "queues and how many tasks of each run at once, e.g. default=10,payments=5 (default: every task's queue, 10 each)",
      parseQueues,
    )
    .option(
      '--poll-interval <duration>',
      'poll for delayed and retrying tasks this often (default 1s)',
      parseDuration,
    )
    .option(
      '--shutdown-timeout <duration>',
      'on shutdown, wait this long for running tasks before aborting them (default 30s)',
      parseDuration,
    )
    .option('--no-listen', 'poll only, no LISTEN (for poolers in transaction mode)')
    .addOption(databaseUrlOption())
    .addHelpText(
      'after',
      `
The module only defines tasks: the worker connects to the database (--database-url,
DATABASE_URL, else embedded PostgreSQL), migrates it, and runs the module's tasks.
Logs go to stderr as JSON (pino); set TANDEM_LOG_LEVEL=debug|info|warn|error.
The first SIGINT/SIGTERM stops claiming and waits for running tasks; a second exits at once.

Example:
  $ tandem worker --tasks ./tasks.ts --queues default=10,payments=5`,
    )
    .action(runWorker);
}

async function runWorker(opts: WorkerCliOptions): Promise<void> {
  const { tasks, schedules } = await loadTaskModule(opts.tasks);
  if (opts.queues) warnAboutQueues(tasks, opts.queues);
  const shutdown = trapShutdown('stopping the worker: running tasks finish or are released');
  const { createTandem } = await import('../../tandem.js');
  const db = await openDatabase(opts.databaseUrl);
  try {
    const tandem = createTandem({ connectionString: db.connectionString, tasks });
    try {
      await tandem.migrate();
      const worker = tandem.worker({
        ...(opts.queues && { queues: opts.queues }),
        ...(opts.pollInterval !== undefined && { pollInterval: opts.pollInterval }),
        ...(opts.shutdownTimeout !== undefined && { shutdownTimeout: opts.shutdownTimeout }),
        listen: opts.listen,
        schedules,
        // The CLI owns its process: a handler's forgotten promise must not end it.
        trapUnhandledRejections: true,
      });
      await worker.start();
      process.stderr.write(
        `tandem: worker running ${tasks.length} task${tasks.length > 1 ? 's' : ''} (${tasks.map((t) => t.name).join(', ')}); Ctrl-C to stop\n`,
      );
      await untilAborted(shutdown);
      await worker.stop();
      process.stderr.write('tandem: worker stopped\n');
    } finally {
      await tandem.close();
    }
  } finally {
    await db.close();
  }
}

/** Queues that nothing uses and tasks that would never run are almost always typos. */
function warnAboutQueues(tasks: AnyTask[], queues: Record<string, number>): void {
  const used = new Set(tasks.map((t) => t.queue));
  for (const q of Object.keys(queues)) {
    if (!used.has(q)) {
      process.stderr.write(
        `tandem: warning: no task in this module has queue ${JSON.stringify(q)}; it only gets tasks enqueued onto it explicitly\n`,
      );
    }
  }
  for (const t of tasks) {
    if (!Object.hasOwn(queues, t.queue)) {
      process.stderr.write(
        `tandem: warning: task ${t.name} uses queue ${JSON.stringify(t.queue)}, which is not in --queues: this worker will not run it\n`,
      );
    }
  }
}
