import type { Command } from 'commander';
import { type DatabaseOptions, databaseUrlOption } from '../options.js';
import { formatTable, printJson } from '../output.js';

const ms = (v: number | null) => (v === null ? '-' : v % 1000 === 0 ? `${v / 1000}s` : `${v}ms`);

export function register(program: Command): void {
  program
    .command('task-types')
    .description(
      'list the registered task types (queue, attempts, timeout, concurrency key, versions) and warn of waiting tasks of unregistered names',
    )
    .option('--json', 'print JSON { taskTypes, unregistered } instead of tables')
    .addOption(databaseUrlOption())
    .action(async (opts: DatabaseOptions & { json?: boolean }) => {
      const { withTandem } = await import('../context.js');
      await withTandem(opts, async (tandem) => {
        const [taskTypes, unregistered] = await Promise.all([
          tandem.listTaskTypes(),
          tandem.listUnregisteredTasks(),
        ]);
        if (opts.json) return printJson({ taskTypes, unregistered });
        if (taskTypes.length === 0) {
          process.stdout.write(
            'no task type is registered yet: workers register theirs on start (or run tandem migrate --tasks <module>)\n',
          );
        } else {
          process.stdout.write(
            formatTable(
              ['TASK', 'QUEUE', 'ATTEMPTS', 'TIMEOUT', 'KEY', 'HASH', 'LIVE VERSIONS'],
              taskTypes.map((t) => [
                t.name,
                t.queue,
                String(t.maxAttempts),
                ms(t.timeoutMs),
                t.keyKind === 'template'
                  ? (t.keyTemplate ?? '')
                  : t.keyKind === 'function'
                    ? '(function)'
                    : '-',
                t.hash.slice(0, 8),
                String(t.versions.filter((v) => v.liveWorkers.length > 0).length),
              ]),
              [false, false, true, false, false, false, true],
            ),
          );
        }
        if (unregistered.length > 0) {
          process.stderr.write(
            `warning: tasks wait under names nobody registered (misspelt, or their workers are not deployed yet):\n${formatTable(
              ['TASK', 'QUEUE', 'WAITING', 'OLDEST'],
              unregistered.map((u) => [
                u.name,
                u.queue,
                String(u.waiting),
                u.oldestCreatedAt.toISOString(),
              ]),
              [false, false, true, false],
            )}`,
          );
        }
      });
    });
}
