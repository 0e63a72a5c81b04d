import type { Command } from 'commander';
import { type DatabaseOptions, databaseUrlOption, parseQueueName } from '../options.js';

export function register(program: Command): void {
  program
    .command('pause')
    .description('stop every worker from claiming tasks of a queue (within a second) until resumed')
    .argument('<queue>', 'queue name', parseQueueName)
    .addOption(databaseUrlOption())
    .action(async (queue: string, opts: DatabaseOptions) => {
      const { withTandem } = await import('../context.js');
      await withTandem(opts, async (tandem) => {
        await tandem.pauseQueue(queue);
        process.stdout.write(`queue ${queue} paused; running tasks finish, no new ones start\n`);
      });
    });
}
