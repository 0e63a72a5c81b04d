import type { Command } from 'commander';
import { type DatabaseOptions, databaseUrlOption, parseQueueName } from '../options.js';

export function register(program: Command): void {
  program
    .command('resume')
    .description('let workers claim tasks of a paused queue again')
    .argument('<queue>', 'queue name', parseQueueName)
    .addOption(databaseUrlOption())
    .action(async (queue: string, opts: DatabaseOptions) => {
      const { withTandem } = await import('../context.js');
      await withTandem(opts, async (tandem) => {
        await tandem.resumeQueue(queue);
        process.stdout.write(`queue ${queue} resumed\n`);
      });
    });
}
