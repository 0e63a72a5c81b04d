import type { Command } from 'commander';
import { type DatabaseOptions, databaseUrlOption } from '../options.js';

export function register(program: Command): void {
  program
    .command('migrate')
    .description('create or upgrade the tandem schema (safe to run from many processes at once)')
    .addOption(databaseUrlOption())
    .action(async (opts: DatabaseOptions) => {
      const { withTandem } = await import('../context.js');
      await withTandem(opts, async (tandem) => {
        const { applied } = await tandem.migrate();
        process.stdout.write(
          applied.length
            ? `applied ${applied.length} migration${applied.length > 1 ? 's' : ''}: ${applied.join(', ')}\n`
            : 'the tandem schema is up to date\n',
        );
      });
    });
}
