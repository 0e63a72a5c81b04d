import type { Command } from 'commander';
import { CliError } from '../errors.js';
import { type DatabaseOptions, databaseUrlOption, parseTaskId } from '../options.js';
import { printJson } from '../output.js';

export function register(program: Command): void {
  program
    .command('status')
    .description('print a task as JSON: state, payload, result, and the error of every attempt')
    .argument('<id>', 'task id', parseTaskId)
    .addOption(databaseUrlOption())
    .action(async (id: string, opts: DatabaseOptions) => {
      const { withTandem } = await import('../context.js');
      await withTandem(opts, async (tandem) => {
        const task = await tandem.getTask(id);
        if (!task) throw new CliError(`no task with id ${id}`);
        printJson(task);
      });
    });
}
