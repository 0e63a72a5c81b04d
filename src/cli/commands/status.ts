import type { Command } from 'commander';
import { toTaskId } from '../../client/client.js';
import { type DatabaseOptions, printJson, withTandem } from '../context.js';
import { CliError } from '../errors.js';
import { databaseUrlOption } from '../options.js';

export function register(program: Command): void {
  program
    .command('status')
    .description('print a task as JSON: state, payload, result, and the error of every attempt')
    .argument('<id>', 'task id')
    .addOption(databaseUrlOption())
    .action(async (id: string, opts: DatabaseOptions) => {
      const taskId = toTaskId(id);
      await withTandem(opts, async (tandem) => {
        const task = await tandem.getTask(taskId);
        if (!task) throw new CliError(`no task with id ${taskId}`);
        printJson(task);
      });
    });
}
