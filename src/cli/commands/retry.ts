import type { Command } from 'commander';
import { toTaskId } from '../../client/client.js';
import { type DatabaseOptions, printJson, withTandem } from '../context.js';
import { databaseUrlOption } from '../options.js';

export function register(program: Command): void {
  program
    .command('retry')
    .description('run a failed, cancelled or succeeded task again, with one more attempt')
    .argument('<id>', 'task id')
    .addOption(databaseUrlOption())
    .action(async (id: string, opts: DatabaseOptions) => {
      const taskId = toTaskId(id);
      await withTandem(opts, async (tandem) => {
        const task = await tandem.retry(taskId);
        printJson(task);
      });
    });
}
