import type { Command } from 'commander';
import { filterJson } from '../../http/serialize.js';
import { CliError, UsageError } from '../errors.js';
import { addFilterOptions, cliActor, type FilterFlags, toFilter } from '../filter-options.js';
import { type DatabaseOptions, databaseUrlOption, parseTaskId } from '../options.js';
import { printJson } from '../output.js';

interface RetryCliOptions extends DatabaseOptions, FilterFlags {
  yes?: boolean;
}

export function register(program: Command): void {
  addFilterOptions(
    program
      .command('retry')
      .description(
        'run a failed, cancelled or succeeded task again (by id), or every task matching the filters (asks first)',
      )
      .argument('[id]', 'task id', parseTaskId),
  )
    .option('-y, --yes', 'retry every matching task without asking')
    .addOption(databaseUrlOption())
    .addHelpText(
      'after',
      `
Examples:
  $ tandem retry 42
  $ tandem retry --status failed --name charge-order        # counts, then asks
  $ tandem retry --status failed --error "timed out" --yes`,
    )
    .action(async (id: string | undefined, opts: RetryCliOptions) => {
      const filter = toFilter(opts);
      const hasFilter = Object.keys(filter).length > 0;
      if (id !== undefined && hasFilter)
        throw new UsageError('give a task id or filters, not both');
      if (id === undefined && !hasFilter)
        throw new UsageError(
          'give a task id, or filters such as --status failed --name charge-order',
        );
      const { withTandem } = await import('../context.js');
      await withTandem(opts, async (tandem) => {
        const actor = await cliActor();
        if (id !== undefined) {
          const task = await tandem.retry(id);
          await tandem.recordOperatorAction({
            actor,
            action: 'retry',
            target: { ids: [id] },
            taskIds: [id],
            affected: 1,
            request: null,
          });
          return printJson(task);
        }
        const { affected } = await tandem.retryTasks({ filter }, { dryRun: true });
        if (affected === 0) {
          process.stdout.write('no task matches; nothing to retry\n');
          return;
        }
        if (
          !opts.yes &&
          !(await confirm(`retry ${affected} task${affected === 1 ? '' : 's'}? [y/N] `))
        )
          throw new CliError(
            process.stdin.isTTY
              ? 'not retried'
              : `${affected} tasks match; add --yes to retry them without a terminal to confirm`,
          );
        const result = await tandem.retryTasks({ filter });
        await tandem.recordOperatorAction({
          actor,
          action: 'bulk-retry',
          target: { filter: filterJson(filter) },
          taskIds: result.ids,
          affected: result.affected,
          request: null,
        });
        process.stdout.write(
          `retried ${result.affected} task${result.affected === 1 ? '' : 's'}\n`,
        );
      });
    });
}

async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) return false;
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}
