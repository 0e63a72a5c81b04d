/**
 * The live shop demo behind `npm start` / `tandem demo`: a producer places
 * orders (each with its tasks, in one transaction), a worker runs them, and a
 * progress line every second shows tasks flow, retry, fail and succeed.
 *
 * The CLI provides the database (embedded PostgreSQL unless DATABASE_URL is
 * set) and the stop signal; see src/cli/commands/demo.ts.
 */
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { pino } from 'pino';
import { PinoPretty } from 'pino-pretty';
import type { TandemServer } from '../../src/http/index.js';
import { createTandem, type Logger, type Tandem } from '../../src/index.js';
import { startProducer } from './producer.js';
import { createShopSchema, type ShopDatabase } from './schema.js';
import { chargeOrder, reportTotals, schedules, sendReceipt } from './tasks.js';

export interface ShopDemoOptions {
  connectionString: string;
  /** The demo stops when this aborts (Ctrl-C). */
  signal: AbortSignal;
  /** Stop by itself after this many seconds. */
  seconds?: number;
  /** Orders per second. Default 4. */
  ordersPerSecond?: number;
  /** Where progress lines go. Default stdout. */
  write?: (line: string) => void;
  /**
   * Serve the dashboard on 127.0.0.1 at this port (default 8080; 0: any free
   * port; null: no dashboard). Its URL is the demo's first line; when the
   * port is taken, a free one is used and the line says so.
   */
  dashboardPort?: number | null;
}

const STATES = ['queued', 'running', 'retrying', 'succeeded', 'failed', 'cancelled'] as const;

export async function runShopDemo(options: ShopDemoOptions): Promise<void> {
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  // The shop's own connections, as an application would have them.
  const db = new Kysely<ShopDatabase>({
    dialect: new PostgresDialect({
      pool: new pg.Pool({ connectionString: options.connectionString, max: 4 }),
    }),
  });
  const tandem = createTandem({
    connectionString: options.connectionString,
    tasks: [chargeOrder, sendReceipt, reportTotals],
    schedules,
    logger: demoLogger(write),
  });
  let server: TandemServer | null = null;
  try {
    await tandem.migrate();
    // First line of the demo: where to watch it.
    const port = options.dashboardPort === undefined ? 8080 : options.dashboardPort;
    if (port !== null) {
      const started = await startDashboard(tandem, port);
      server = started.server;
      write(
        started.taken
          ? `dashboard: ${server.url}  (port ${port} is taken, so this one is free)`
          : `dashboard: ${server.url}`,
      );
    }
    await createShopSchema(db);
    const worker = tandem.worker({ queues: { default: 5, payments: 5 } });
    await worker.start();
    const perSecond = options.ordersPerSecond ?? 4;
    const producer = startProducer(db, tandem, {
      perSecond,
      onError: (err) => write(`  order failed: ${(err as Error)?.message ?? err}`),
    });
    write(
      `shop open: ~${perSecond} orders/s, each inserted with its charge-order and send-receipt tasks in one transaction` +
        (options.seconds ? `; stopping after ${options.seconds}s` : '; Ctrl-C to stop'),
    );
    const started = Date.now();
    const deadline = options.seconds ? started + options.seconds * 1000 : Number.POSITIVE_INFINITY;
    try {
      while (!options.signal.aborted && Date.now() < deadline) {
        await sleep(Math.min(1000, deadline - Date.now()), options.signal);
        if (options.signal.aborted) break;
        write(await progressLine(db, Math.round((Date.now() - started) / 1000)));
      }
    } finally {
      write('closing the shop: no new orders, the worker finishes what it runs…');
      await producer.stop();
      await worker.stop();
    }
    write(await progressLine(db, Math.round((Date.now() - started) / 1000)));
    write(await summary(db, producer.placed));
  } finally {
    await server?.close();
    await tandem.close();
    await db.destroy();
  }
}

/** The dashboard on 127.0.0.1:`port`, or on a free port when that one is taken. */
async function startDashboard(
  tandem: Tandem,
  port: number,
): Promise<{ server: TandemServer; taken: boolean }> {
  try {
    return { server: await tandem.server({ port }), taken: false };
  } catch (err) {
    if ((err as { code?: string }).code !== 'EADDRINUSE') throw err;
    return { server: await tandem.server({ port: 0 }), taken: true };
  }
}

/** `[ 12s] charge-order: 2 running, 1 retrying, 30 succeeded | send-receipt: … | orders 34, payments 30` */
async function progressLine(db: Kysely<ShopDatabase>, seconds: number): Promise<string> {
  const { rows } = await sql<{ name: string; state: string; n: number }>`
    select name, state, count(*)::int as n from tandem.tasks group by 1, 2 order by 1`.execute(db);
  const byName = new Map<string, Map<string, number>>();
  for (const r of rows) {
    if (!byName.has(r.name)) byName.set(r.name, new Map());
    byName.get(r.name)!.set(r.state, r.n);
  }
  const parts = [...byName].map(([name, counts]) => {
    const shown = STATES.filter((s) => counts.has(s)).map((s) => `${counts.get(s)} ${s}`);
    return `${name}: ${shown.join(', ')}`;
  });
  const totals = await shopTotals(db);
  parts.push(`orders ${totals.orders}, payments ${totals.payments}`);
  return `[${String(seconds).padStart(3)}s] ${parts.join(' | ')}`;
}

async function shopTotals(db: Kysely<ShopDatabase>): Promise<{ orders: number; payments: number }> {
  const { rows } = await sql<{ orders: number; payments: number }>`
    select (select count(*) from shop_orders)::int as orders,
           (select count(*) from shop_payments)::int as payments`.execute(db);
  return rows[0]!;
}

async function summary(db: Kysely<ShopDatabase>, placed: number): Promise<string> {
  const totals = await shopTotals(db);
  const { rows } = await sql<{ charged: number; waiting: number }>`
    select count(*) filter (where name = 'charge-order' and state = 'succeeded')::int as charged,
           count(*) filter (where state in ('queued', 'retrying'))::int as waiting
      from tandem.tasks`.execute(db);
  const { charged, waiting } = rows[0]!;
  return [
    `This run placed ${placed} order${placed === 1 ? '' : 's'}. The database holds ${totals.orders} orders and ${totals.payments} payments,`,
    `and ${charged} succeeded charge-order tasks: each payment committed together with its task's completion.`,
    ...(waiting > 0
      ? [
          `${waiting} task${waiting === 1 ? ' waits' : 's wait'} in the queue; the next run picks ${waiting === 1 ? 'it' : 'them'} up.`,
        ]
      : []),
    `Audit an order's tasks with SQL: select name, state, attempt, errors from tandem.tasks where key in ('order:1', 'receipt:1');`,
  ].join('\n');
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, Math.max(0, ms));
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * pino at `warn`, so the progress lines stay readable. A failed attempt is
 * the point of the demo, so it is shown as one plain line; any other warning
 * or error goes to stderr as a readable line too (pino-pretty), not JSON.
 */
function demoLogger(write: (line: string) => void): Logger {
  const wrap = (l: pino.Logger): Logger => ({
    debug: (o, m) => l.debug(o as object, m),
    info: (o, m) => l.info(o as object, m),
    error: (o, m) => l.error(o as object, m),
    warn: (o, m) => {
      if (m === 'task attempt failed' && typeof o === 'object') {
        const f = o as {
          taskId?: string;
          task?: string;
          attempt?: number;
          next?: string;
          err?: { message?: string };
        };
        write(
          `   ! ${f.task} (task ${f.taskId}) attempt ${f.attempt} failed -> ${f.next ?? 'failed'}: ${f.err?.message ?? '?'}`,
        );
        return;
      }
      l.warn(o as object, m);
    },
    child: (bindings) => wrap(l.child(bindings)),
  });
  const pretty = PinoPretty({
    destination: 2,
    sync: true,
    colorize: process.stderr.isTTY,
    translateTime: 'HH:MM:ss',
    ignore: 'pid,hostname,name',
    singleLine: true,
  });
  return wrap(pino({ name: 'tandem', level: 'warn' }, pretty));
}
