import { type Command, InvalidArgumentError } from 'commander';
import type { LimitInfo, LimitsUpdate, LimitTarget } from '../../client/limits.js';
import { formatRate } from '../../flow/options.js';
import { type DatabaseOptions, databaseUrlOption, parseQueueName } from '../options.js';
import { formatTable, printJson } from '../output.js';

/** `5`, or `none` to remove the limit. */
function countOrNone(value: string): number | null {
  if (value === 'none') return null;
  if (!/^\d+$/.test(value) || Number(value) < 1)
    throw new InvalidArgumentError(
      `expected a positive integer or "none", got ${JSON.stringify(value)}`,
    );
  return Number(value);
}

/** `100/1s`, or `none`. Checked in full by setLimits. */
function rateOrNone(value: string): string | null {
  if (value === 'none') return null;
  if (!/^\d+\/\S+$/.test(value))
    throw new InvalidArgumentError(
      `expected starts per window such as 100/1s, or "none", got ${JSON.stringify(value)}`,
    );
  return value;
}

/** A usage error found in an action: said on stderr, exit code 2. */
function usage(message: string): null {
  process.stderr.write(`error: ${message}\n`);
  process.exitCode = 2;
  return null;
}

function target(scope: string, name: string): LimitTarget | null {
  if (scope === 'queue') return { queue: name };
  if (scope === 'task') return { task: name };
  return usage(`the scope is "queue" or "task", got ${JSON.stringify(scope)}`);
}

const show = (l: LimitInfo) => [
  l.scope,
  l.name,
  l.concurrency === null ? '-' : `${l.running}/${l.concurrency}`,
  l.rate === null ? '-' : `${l.recentStarts ?? 0} of ${formatRate(l.rate)}`,
  l.keyed ? `${l.keys} (${l.keysAtLimit} at limit)` : '-',
  l.keyConcurrency === null ? '-' : String(l.keyConcurrency),
  formatRate(l.keyRate) ?? '-',
  l.source,
];

export function register(program: Command): void {
  const limits = program
    .command('limits')
    .description('list, set or reset fleet-wide limits of queues and task names')
    .option('--json', 'print JSON instead of a table')
    .addOption(databaseUrlOption())
    .action(async (opts: DatabaseOptions & { json?: boolean }) => {
      const { withTandem } = await import('../context.js');
      await withTandem(opts, async (tandem) => {
        const all = await tandem.listLimits();
        if (opts.json) return printJson(all);
        if (all.length === 0) {
          process.stdout.write(
            'no limits: give a task definition concurrency, rateLimit or concurrencyKey, or run `tandem limits set`\n',
          );
          return;
        }
        process.stdout.write(
          formatTable(
            ['SCOPE', 'NAME', 'RUNNING', 'RATE', 'KEYS', 'PER KEY', 'KEY RATE', 'SET BY'],
            all.map(show),
            [false, false, true, true, true, true, true, false],
          ),
        );
      });
    });

  limits
    .command('set')
    .description('set limits of a queue or task name for the whole fleet, kept until reset')
    .argument('<scope>', '"queue" or "task"')
    .argument('<name>', 'queue or task name', parseQueueName)
    .option(
      '--concurrency <n>',
      'at most n running at once, fleet-wide ("none" removes it)',
      countOrNone,
    )
    .option(
      '--rate <n/window>',
      'at most n starts in any window, e.g. 100/1s ("none" removes it)',
      rateOrNone,
    )
    .option('--key-concurrency <n>', 'at most n running per concurrency key', countOrNone)
    .option(
      '--key-rate <n/window>',
      'at most n starts per key in any window, e.g. 10/1s',
      rateOrNone,
    )
    .option('--key-order <order>', '"strict" (enqueue order per key) or "skip"')
    .addOption(databaseUrlOption())
    .action(async (scope: string, name: string, opts: DatabaseOptions & Record<string, any>) => {
      const update: LimitsUpdate = {};
      if (opts.concurrency !== undefined) update.concurrency = opts.concurrency;
      if (opts.rate !== undefined) update.rateLimit = opts.rate;
      if (opts.keyConcurrency !== undefined) update.keyConcurrency = opts.keyConcurrency;
      if (opts.keyRate !== undefined) update.keyRateLimit = opts.keyRate;
      if (opts.keyOrder !== undefined) update.keyOrder = opts.keyOrder;
      if (Object.keys(update).length === 0)
        return void usage(
          'give at least one of --concurrency, --rate, --key-concurrency, --key-rate, --key-order',
        );
      const where = target(scope, name);
      if (!where) return;
      const { withTandem } = await import('../context.js');
      await withTandem(opts, async (tandem) => {
        const l = await tandem.setLimits(where, update);
        process.stdout.write(
          formatTable(
            ['SCOPE', 'NAME', 'RUNNING', 'RATE', 'KEYS', 'PER KEY', 'KEY RATE', 'SET BY'],
            [show(l)],
            [false, false, true, true, true, true, true, false],
          ),
        );
      });
    });

  limits
    .command('reset')
    .description("drop what an operator set: the task definitions' limits apply again")
    .argument('<scope>', '"queue" or "task"')
    .argument('<name>', 'queue or task name', parseQueueName)
    .addOption(databaseUrlOption())
    .action(async (scope: string, name: string, opts: DatabaseOptions) => {
      const where = target(scope, name);
      if (!where) return;
      const { withTandem } = await import('../context.js');
      await withTandem(opts, async (tandem) => {
        const had = await tandem.resetLimits(where);
        process.stdout.write(
          had
            ? `${scope} ${name}: the operator's limits were dropped; definitions apply again\n`
            : `${scope} ${name} had no limits set by an operator\n`,
        );
      });
    });
}
