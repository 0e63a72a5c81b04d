import type { Command } from 'commander';
import { addFilterOptions, type FilterFlags, toFilter } from '../filter-options.js';
import { type DatabaseOptions, databaseUrlOption, parsePositiveInteger } from '../options.js';
import { formatTable, printJson } from '../output.js';

interface TasksCliOptions extends DatabaseOptions, FilterFlags {
  limit?: number;
  cursor?: string;
  json?: boolean;
}

export function register(program: Command): void {
  addFilterOptions(
    program
      .command('tasks')
      .description('list tasks matching the filters, newest first (a page; --cursor continues)'),
  )
    .option('--limit <n>', 'tasks per page, at most 500 (default 20)', parsePositiveInteger)
    .option('--cursor <cursor>', 'continue after a previous page (printed at its end)')
    .option('--json', 'print { tasks, nextCursor } as JSON')
    .addOption(databaseUrlOption())
    .addHelpText(
      'after',
      `
Examples:
  $ tandem tasks --status failed --name charge-order
  $ tandem tasks --key order:42                  # everything for order 42
  $ tandem tasks --payload '{"orderId":42}' --json`,
    )
    .action(async (opts: TasksCliOptions) => {
      const { withTandem } = await import('../context.js');
      await withTandem(opts, async (tandem) => {
        const page = await tandem.listTasks(toFilter(opts), {
          limit: opts.limit ?? 20,
          cursor: opts.cursor ?? null,
        });
        if (opts.json) return printJson(page);
        if (page.tasks.length === 0) process.stdout.write('no tasks on this page\n');
        else
          process.stdout.write(
            formatTable(
              ['ID', 'NAME', 'QUEUE', 'STATE', 'ATTEMPT', 'KEY', 'CREATED', 'LAST ERROR'],
              page.tasks.map((t) => [
                t.id,
                t.name,
                t.queue,
                t.state,
                `${t.attempt}/${t.maxAttempts}`,
                t.key ?? '',
                t.createdAt.toISOString(),
                (t.errors.at(-1)?.message ?? '').slice(0, 60),
              ]),
              [true],
            ),
          );
        if (page.nextCursor)
          process.stdout.write(`more: tandem tasks … --cursor ${page.nextCursor}\n`);
      });
    });
}
