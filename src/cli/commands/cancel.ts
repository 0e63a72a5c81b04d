import type { Command } from 'commander';
import { type DatabaseOptions, databaseUrlOption, parseTaskId } from '../options.js';
import { printJson } from '../output.js';

export function register(program: Command): void {
  program
    .command('cancel')
    .description(
      'cancel a task: a waiting one at once, a running one by aborting its ctx.signal on its worker',
    )
    .argument('<id>', 'task id', parseTaskId)
    .addOption(databaseUrlOption())
    .action(async (id: string, opts: DatabaseOptions) => {
      const { withTandem } = await import('../context.js');
      await withTandem(opts, async (tandem) => {
        const state = await tandem.cancel(id);
        printJson({ id, state }, false);
      });
    });
}
