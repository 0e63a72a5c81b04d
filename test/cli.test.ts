/**
 * The `tandem` CLI, run as a real process (node + tsx on src/cli/main.ts)
 * against a fresh database.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase } from './support/db.js';

const root = fileURLToPath(new URL('..', import.meta.url));

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

function start(args: string[], env: Record<string, string>): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    cwd: root,
    env: { ...process.env, TANDEM_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => {
    out += s;
  });
  child.stderr!.setEncoding('utf8').on('data', (s: string) => {
    err += s;
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve(code));
  });
  return { child, stdout: () => out, stderr: () => err, exited };
}

async function tandem(args: string[], env: Record<string, string>) {
  const run = start(args, env);
  const code = await run.exited;
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, ms = 20_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

let pool: pg.Pool;
let env: Record<string, string>;

beforeAll(async () => {
  const url = await freshDatabase();
  pool = new pg.Pool({ connectionString: url, max: 2 });
  env = { DATABASE_URL: url };
});
afterAll(async () => {
  await pool.end();
});

// Each CLI run starts a Node process (about a second under tsx), so the tests
// run concurrently; the worker and the demo get databases of their own.
describe.concurrent('tandem CLI', () => {
  it('enqueues by SQL; of two calls with the same --key, one reports inserted: false', async () => {
    const args = [
      'enqueue',
      'send-receipt',
      '{"orderId":7,"customer":"ada"}',
      '--key',
      'receipt:7',
    ];
    const runs = await Promise.all([tandem(args, env), tandem(args, env)]);
    for (const r of runs) {
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    }
    const results = runs.map((r) => JSON.parse(r.stdout));
    const a = results.find((r) => r.inserted);
    expect(a).toEqual({ id: expect.stringMatching(/^\d+$/), inserted: true, state: 'queued' });
    expect(results).toContainEqual({ id: a.id, inserted: false, state: 'queued' });

    const status = await tandem(['status', a.id], env);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({
      id: a.id,
      name: 'send-receipt',
      queue: 'default',
      key: 'receipt:7',
      state: 'queued',
      payload: { orderId: 7, customer: 'ada' },
    });
  });

  it('rejects a payload that is not JSON with exit code 2, before touching the database', async () => {
    const r = await tandem(['enqueue', 'bad-json-probe', '{orderId: 1}'], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: the payload argument is not valid JSON .*\{orderId: 1\}/m);
    expect(r.stdout).toBe('');
    const { rows } = await pool.query(
      `select count(*)::int as n from tandem.tasks where name = 'bad-json-probe'`,
    );
    expect(rows[0].n).toBe(0);
  });

  it('exits 1 for an unknown task id and 2 for a malformed --queues', async () => {
    const [missing, bad] = await Promise.all([
      tandem(['status', '999999'], env),
      tandem(
        ['worker', '--tasks', 'examples/shop/tasks.ts', '--queues', 'default=10,payments=0'],
        env,
      ),
    ]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('error: no task with id 999999');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('concurrency "0" of queue "payments" must be a positive integer');
  });

  it('answers a --tasks that is not a task module with one line and exit code 2', async () => {
    const runs = await Promise.all([
      tandem(['worker', '--tasks', './package.json'], env),
      tandem(['worker', '--tasks', 'test/support'], env),
      tandem(['worker', '--tasks', 'test/support/wait.ts'], env),
    ]);
    for (const r of runs) {
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
    }
    expect(runs[0]!.stderr).toContain(
      '--tasks ./package.json is not a JavaScript or TypeScript module',
    );
    expect(runs[1]!.stderr).toContain('--tasks test/support is a directory');
    expect(runs[2]!.stderr).toContain('the module exports no task definitions');
  });

  it('worker runs a task from a .ts module and exits 0 on SIGTERM', async () => {
    const url = await freshDatabase();
    const db = new pg.Client(url);
    await db.connect();
    try {
      const { rows } = await db.query<{ id: string }>(
        `select tandem.enqueue('send-receipt', '{"orderId":8,"customer":"grace"}'::jsonb)::text as id`,
      );
      const id = rows[0]!.id;
      const worker = start(['worker', '--tasks', 'examples/shop/tasks.ts'], { DATABASE_URL: url });
      try {
        const task = await waitFor('the task to succeed', async () => {
          const r = await db.query(`select state, result from tandem.tasks where id = $1`, [id]);
          return r.rows[0]?.state === 'succeeded' ? r.rows[0] : undefined;
        });
        expect(task.result).toEqual({ sentTo: 'grace@example.com', orderId: 8 });
      } finally {
        worker.child.kill('SIGTERM');
      }
      expect(await worker.exited, worker.stderr()).toBe(0);
      expect(worker.stderr()).toContain('worker stopped');
    } finally {
      await db.end();
    }
  });

  it('demo runs the shop for a few seconds with its dashboard, then stops by itself', async () => {
    const demoUrl = await freshDatabase();
    // The port asked for is taken: the demo serves the dashboard on a free one and says so.
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const taken = (blocker.address() as AddressInfo).port;
    const run = start(['demo', '--port', String(taken)], {
      DATABASE_URL: demoUrl,
      TANDEM_DEMO_SECONDS: '4',
    });
    try {
      const first = await waitFor('the first line', async () =>
        run.stdout().includes('\n') ? run.stdout().split('\n')[0] : undefined,
      );
      const m =
        /^dashboard: (http:\/\/127\.0\.0\.1:(\d+)) {2}\(port (\d+) is taken, so this one is free\)$/.exec(
          first!,
        );
      expect(m, first).not.toBeNull();
      const [, url, port, asked] = m!;
      expect(Number(asked)).toBe(taken);
      expect(Number(port)).not.toBe(taken);
      const tasks = await waitFor('the shop’s tasks on the dashboard', async () => {
        const page = await (await fetch(`${url}/tasks`)).text();
        return page.includes('charge-order') ? page : undefined;
      });
      expect(tasks).toContain('send-receipt');
      expect((await fetch(url!)).status).toBe(200);
    } finally {
      blocker.close();
    }
    const r = { code: await run.exited, stdout: run.stdout(), stderr: run.stderr() };
    expect(r.code, r.stderr).toBe(0);
    const progress = r.stdout.split('\n').filter((l) => /^\[\s*\d+s\] /.test(l));
    expect(progress.length).toBeGreaterThanOrEqual(3);
    expect(progress.at(-1)).toMatch(/charge-order: .*\| orders \d+, payments \d+$/);

    const db = new pg.Client(demoUrl);
    await db.connect();
    try {
      const { rows } = await db.query(`
        select (select count(*) from shop_orders)::int as orders,
               (select count(*) from shop_payments)::int as payments,
               (select count(*) from tandem.tasks where state = 'succeeded')::int as succeeded,
               (select count(*) from tandem.tasks where name = 'charge-order'
                   and state = 'succeeded')::int as charged`);
      const c = rows[0];
      expect(c.orders).toBeGreaterThan(0);
      expect(c.payments).toBeLessThanOrEqual(c.orders);
      expect(c.succeeded).toBeGreaterThan(0);
      // Transactional: a payment exists exactly when its charge task succeeded.
      expect(c.payments).toBe(c.charged);
    } finally {
      await db.end();
    }
  });
});
