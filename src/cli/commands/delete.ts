import type { Command } from 'commander';
import { CliError } from '../errors.js';
import { cliActor } from '../filter-options.js';
import { type DatabaseOptions, databaseUrlOption, parseTaskId } from '../options.js';
import { printJson } from '../output.js';

export function register(program: Command): void {
  program
    .command('delete')
    .description(
      'delete a task that is not running (its key becomes free); recorded in the operator log',
    )
    .argument('<id>', 'task id', parseTaskId)
    .addOption(databaseUrlOption())
    .action(async (id: string, opts: DatabaseOptions) => {
      const { withTandem } = await import('../context.js');
      await withTandem(opts, async (tandem) => {
        if (!(await tandem.deleteTask(id))) {
          const task = await tandem.getTask(id);
          if (!task) throw new CliError(`no task with id ${id}`);
          throw new CliError(`task ${id} is running; cancel it first (tandem cancel ${id})`);
        }
        await tandem.recordOperatorAction({
          actor: await cliActor(),
          action: 'delete',
          target: { ids: [id] },
          taskIds: [id],
          affected: 1,
          request: null,
        });
        printJson({ id, deleted: true }, false);
      });
    });
}
