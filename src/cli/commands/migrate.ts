import type { Command } from 'commander';
import { loadTaskModule } from '../load-tasks.js';
import { type DatabaseOptions, databaseUrlOption } from '../options.js';

export function register(program: Command): void {
  program
    .command('migrate')
    .description('create or upgrade the tandem schema (safe to run from many processes at once)')
    .option(
      '--tasks <module>',
      'then record the task definitions this module exports in the task registry, so SQL and HTTP enqueue apply them',
    )
    .addOption(databaseUrlOption())
    .action(async (opts: DatabaseOptions & { tasks?: string }) => {
      // Loaded before connecting: a bad module fails without touching the database.
      const tasks = opts.tasks ? (await loadTaskModule(opts.tasks)).tasks : [];
      const { withTandem } = await import('../context.js');
      await withTandem(opts, async (tandem) => {
        const { applied } = await tandem.migrate();
        process.stdout.write(
          applied.length
            ? `applied ${applied.length} migration${applied.length > 1 ? 's' : ''}: ${applied.join(', ')}\n`
            : 'the tandem schema is up to date\n',
        );
        if (tasks.length === 0) return;
        const done = await tandem.register(tasks);
        const changed = done.filter((d) => d.changed).length;
        const adopted = done.reduce((n, d) => n + d.adopted, 0);
        process.stdout.write(
          `registered ${done.length} task type${done.length === 1 ? '' : 's'} (${changed} new or changed)${adopted ? `; ${adopted} waiting task${adopted === 1 ? '' : 's'} took their definition` : ''}\n`,
        );
      });
    });
}
