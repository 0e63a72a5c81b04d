import type { Command } from 'commander';
import { toTaskId } from '../../client/client.js';
import { type DatabaseOptions, printJson, withTandem } from '../context.js';
import { databaseUrlOption } from '../options.js';

export function register(program: Command): void {
  program
    .command('cancel')
    .description(
      'cancel a task: a waiting one at once, a running one by aborting its ctx.signal on its worker',
    )
    .argument('<id>', 'task id')
    .addOption(databaseUrlOption())
    .action(async (id: string, opts: DatabaseOptions) => {
      const taskId = toTaskId(id);
      await withTandem(opts, async (tandem) => {
        const state = await tandem.cancel(taskId);
        printJson({ id: taskId, state }, false);
      });
    });
}
