import type { Command } from 'commander';
import { type DatabaseOptions, databaseUrlOption, parseDuration, parseTaskId } from '../options.js';
import { printJson } from '../output.js';

export function register(program: Command): void {
  program
    .command('wait')
    .description(
      'wait until a task has finished and print it as JSON; exits 0 if it succeeded, 1 if it failed or was cancelled',
    )
    .argument('<id>', 'task id', parseTaskId)
    .option('--timeout <duration>', 'give up after this long (exit 1), e.g. 30s', parseDuration)
    .addOption(databaseUrlOption())
    .action(async (id: string, opts: DatabaseOptions & { timeout?: number }) => {
      const { withTandem } = await import('../context.js');
      await withTandem(opts, async (tandem) => {
        const task = await tandem.waitFor(id, {
          ...(opts.timeout !== undefined && { timeout: opts.timeout }),
        });
        printJson(task);
        if (task.state !== 'succeeded') process.exitCode = 1;
      });
    });
}
