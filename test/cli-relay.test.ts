/**
 * `tandem relay` and `tandem inbox` as real processes: usage errors exit 2
 * with one line, and `tandem relay status` shows each destination's backlog.
 * (The relay and inbox processes themselves are exercised by the relay and
 * inbox tests.)
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freshDatabase } from './support/db.js';

const root = fileURLToPath(new URL('..', import.meta.url));

function tandem(args: string[], env: Record<string, string>) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((res, rej) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
      cwd: root,
      env: { ...process.env, TANDEM_LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', rej);
    child.on('close', (code) => res({ code, stdout, stderr }));
  });
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

it('usage errors of tandem relay and tandem inbox exit 2 with one line', async () => {
  const empty = join(tmpdir(), `tandem-empty-${process.pid}.mjs`);
  writeFileSync(empty, 'export const notADestination = 1;\n');
  const cases: [string[], RegExp][] = [
    [['relay'], /required option '--destinations <module>' not specified/],
    [['relay', '--destinations', './nope.ts'], /--destinations \.\/nope\.ts: no such file/],
    [
      ['relay', '--destinations', empty],
      /exports no destinations \(values made by defineDestination\); its exports: notADestination/,
    ],
    [['relay', '--destinations', empty, '--batch-size', '0'], /expected an integer of at least 1/],
    [['inbox', '--inboxes', empty], /exports no inboxes \(values made by defineInbox\)/],
  ];
  const runs = await Promise.all(cases.map(([args]) => tandem(args, env)));
  for (const [i, r] of runs.entries()) {
    const [args, message] = cases[i]!;
    expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n').length, r.stderr).toBeLessThanOrEqual(2);
  }
});

it('tandem relay status shows the backlog, the oldest message and the head error', async () => {
  await pool.query(`select tandem.publish('order-events', '{"orderId":1}', key => 'order:1')`);
  await pool.query(`select tandem.publish('order-events', '{"orderId":2}', key => 'order:2')`);
  await pool.query(
    `update tandem.outbox set attempts = 3, last_error = 'unroutable: no queue bound'
      where id = (select min(id) from tandem.outbox)`,
  );
  const table = await tandem(['relay', 'status'], env);
  expect(table.code, table.stderr).toBe(0);
  expect(table.stdout).toMatch(
    /DESTINATION\s+BACKLOG\s+OLDEST\s+HEAD ATTEMPTS\s+RELAYED BY\s+PUBLISHED/,
  );
  expect(table.stdout).toMatch(/order-events\s+2\s+\d+\.\ds\s+3\s+\(none\)\s+0/);
  expect(table.stdout).toContain('order-events: last error: unroutable: no queue bound');
  const json = await tandem(['relay', 'status', '--json'], env);
  expect(JSON.parse(json.stdout).destinations[0]).toMatchObject({
    destination: 'order-events',
    backlog: 2,
    head: { attempts: 3 },
  });
});
