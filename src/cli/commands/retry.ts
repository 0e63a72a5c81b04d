import type { Command } from 'commander';
import { type DatabaseOptions, databaseUrlOption, parseTaskId } from '../options.js';
import { printJson } from '../output.js';

export function register(program: Command): void {
  program
    .command('retry')
    .description('run a failed, cancelled or succeeded task again, with one more attempt')
    .argument('<id>', 'task id', parseTaskId)
    .addOption(databaseUrlOption())
    .action(async (id: string, opts: DatabaseOptions) => {
      const { withTandem } = await import('../context.js');
      await withTandem(opts, async (tandem) => {
        printJson(await tandem.retry(id));
      });
    });
}
