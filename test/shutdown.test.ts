/**
 * stop() keeps its promises when PostgreSQL is out of reach, and when it is
 * called before start() has finished.
 */
import { spawn } from 'node:child_process';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { z } from 'zod';
import { createTandem, defineTask } from '../src/index.js';
import { freshDatabase } from './support/db.js';
import { quietLogger } from './support/quiet-logger.js';
import { startTcpProxy } from './support/tcp-proxy.js';
import { sleep, waitFor } from './support/wait.js';

let url: string;
let pool: pg.Pool;
beforeAll(async () => {
  url = await freshDatabase();
  pool = new pg.Pool({ connectionString: url });
});
afterAll(() => pool.end());

it('stops within its shutdown timeout while PostgreSQL cannot be reached', {
  timeout: 30_000,
}, async () => {
  const proxy = await startTcpProxy(url);
  let release!: () => void;
  const gate = new Promise<void>((r) => {
    release = r;
  });
  const job = defineTask({ name: 'job', payload: z.object({}), handler: () => gate });
  const tandem = createTandem({ connectionString: proxy.url, tasks: [job], logger: quietLogger });
  const worker = tandem.worker({ shutdownTimeout: 1_000, pollInterval: 100 });
  try {
    await worker.start();
    await tandem.enqueueMany(
      pool,
      Array.from({ length: 5 }, () => ({ task: job, payload: {} })),
    );
    await waitFor(() => worker.held === 5, 5_000, 'five running');
    proxy.refuse();
    proxy.cut();
    release(); // five outcomes to write, and no way to write them
    const t0 = Date.now();
    await worker.stop();
    expect(Date.now() - t0).toBeLessThan(6_000);
  } finally {
    proxy.accept();
    await tandem.close().catch(() => {});
    await proxy.close();
  }
});

it('leaves nothing running when stop() comes before start() finished', {
  timeout: 30_000,
}, async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/start-then-stop.ts'], {
    env: { ...process.env, DATABASE_URL: url },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.on('data', (d) => {
    out += d;
  });
  const code = await Promise.race([
    new Promise<number | null>((r) => child.on('exit', r)),
    sleep(15_000).then(() => 'still running' as const),
  ]);
  if (code === 'still running') child.kill('SIGKILL');
  expect(out).toContain('stopped');
  expect(code).toBe(0);
});
