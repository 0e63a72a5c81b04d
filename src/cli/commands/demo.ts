import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { openDatabase } from '../database.js';
import { CliError } from '../errors.js';
import { importModule } from '../load-tasks.js';
import {
  type DatabaseOptions,
  databaseUrlOption,
  parsePort,
  parsePositiveInteger,
} from '../options.js';
import { trapShutdown } from '../signals.js';

/** What examples/shop/demo.ts exports (it lives outside src/, so it is loaded at run time). */
interface ShopDemoModule {
  runShopDemo(options: {
    connectionString: string;
    signal: AbortSignal;
    seconds?: number;
    ordersPerSecond?: number;
    dashboardPort?: number | null;
  }): Promise<void>;
}

const demoModule = fileURLToPath(new URL('../../../examples/shop/demo.ts', import.meta.url));

interface DemoCliOptions extends DatabaseOptions {
  seconds?: number;
  rate?: number;
  port: number;
  dashboard: boolean;
}

export function register(program: Command, hidden = false): void {
  program
    .command('demo', { hidden })
    .description(
      'run the example shop: orders with transactional tasks, a worker, live progress (what npm start runs)',
    )
    .option(
      '--seconds <n>',
      'stop by itself after n seconds (env TANDEM_DEMO_SECONDS)',
      parsePositiveInteger,
    )
    .option('--rate <n>', 'orders per second (default 4)', parsePositiveInteger)
    .option(
      '--port <port>',
      'dashboard port on 127.0.0.1 (0: any free one; a taken port falls back to a free one)',
      parsePort,
      8080,
    )
    .option('--no-dashboard', 'run the shop without the dashboard')
    .addOption(databaseUrlOption())
    .addHelpText(
      'after',
      `
Without DATABASE_URL the demo starts its own PostgreSQL in .tandem/pg (kept between runs).
The dashboard's URL is the first line (http://127.0.0.1:8080 unless that port is taken).
Ctrl-C stops it gracefully: no new orders, running tasks finish, PostgreSQL stops.`,
    )
    .action(async (opts: DemoCliOptions) => {
      const seconds = opts.seconds ?? secondsFromEnv();
      if (!existsSync(demoModule)) {
        throw new CliError(
          `the demo needs ${demoModule}: run it from a checkout of the Tandem repository`,
        );
      }
      const shutdown = trapShutdown('closing the shop');
      const { runShopDemo } = (await importModule(demoModule)) as unknown as ShopDemoModule;
      const db = await openDatabase(opts.databaseUrl);
      try {
        await runShopDemo({
          connectionString: db.connectionString,
          dashboardPort: opts.dashboard ? opts.port : null,
          signal: shutdown,
          ...(seconds !== undefined && { seconds }),
          ...(opts.rate !== undefined && { ordersPerSecond: opts.rate }),
        });
      } finally {
        await db.close();
      }
    });
}

function secondsFromEnv(): number | undefined {
  const raw = process.env.TANDEM_DEMO_SECONDS;
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    throw new CliError(
      `TANDEM_DEMO_SECONDS must be a positive integer number of seconds, got ${JSON.stringify(raw)}`,
      2,
    );
  }
  return n;
}
