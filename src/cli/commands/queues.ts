import type { Command } from 'commander';
import { type DatabaseOptions, databaseUrlOption } from '../options.js';
import { formatTable, printJson } from '../output.js';

export function register(program: Command): void {
  program
    .command('queues')
    .description('list queues with their pause state and counts of waiting and running tasks')
    .option('--json', 'print JSON instead of a table')
    .addOption(databaseUrlOption())
    .action(async (opts: DatabaseOptions & { json?: boolean }) => {
      const { withTandem } = await import('../context.js');
      await withTandem(opts, async (tandem) => {
        const queues = await tandem.listQueues();
        if (opts.json) return printJson(queues);
        if (queues.length === 0) {
          process.stdout.write(
            'no queues yet: a queue shows up once it has waiting or running tasks, or is paused\n',
          );
          return;
        }
        process.stdout.write(
          formatTable(
            ['QUEUE', 'STATUS', 'QUEUED', 'RUNNING', 'RETRYING'],
            queues.map((q) => [
              q.name,
              q.paused ? `paused since ${q.pausedAt?.toISOString() ?? '?'}` : 'active',
              String(q.queued),
              String(q.running),
              String(q.retrying),
            ]),
            [false, false, true, true, true],
          ),
        );
      });
    });
}
