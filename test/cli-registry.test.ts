/**
 * The CLI and the task registry: `tandem migrate --tasks` registers,
 * `tandem enqueue` without --tasks applies the registered definition, and
 * `tandem task-types` lists the registry and warns of unregistered names.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase } from './support/db.js';

const root = fileURLToPath(new URL('..', import.meta.url));

function tandem(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    cwd: root,
    env: { ...process.env, TANDEM_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    stdout += s;
  });
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
  });
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
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

describe('tandem CLI and the task registry', () => {
  it('enqueue before registration waits in default; migrate --tasks registers and adopts it; later enqueues follow the definition', async () => {
    const early = await tandem(['enqueue', 'charge-order', '{"orderId":1,"cents":100}'], env);
    expect(early.code).toBe(0);
    const earlyId = JSON.parse(early.stdout).id;
    const typo = await tandem(['enqueue', 'charge-ordr', '{"orderId":1}'], env);
    expect(typo.code).toBe(0);

    const before = await tandem(['task-types'], env);
    expect(before.code).toBe(0);
    expect(before.stdout).toMatch(/no task type is registered yet/);
    expect(before.stderr).toMatch(/warning: tasks wait under names nobody registered/);
    expect(before.stderr).toMatch(/charge-order\s+default\s+1/);

    const migrate = await tandem(['migrate', '--tasks', 'examples/shop/tasks.ts'], env);
    expect(migrate.stderr).toBe('');
    expect(migrate.code).toBe(0);
    expect(migrate.stdout).toMatch(
      /registered 3 task types \(3 new or changed\); 1 waiting task took their definition/,
    );
    const { rows: adopted } = await pool.query(
      'select queue, max_attempts, timeout_ms from tandem.tasks where id = $1',
      [earlyId],
    );
    expect(adopted[0]).toEqual({ queue: 'payments', max_attempts: 3, timeout_ms: 10_000 });

    const later = await tandem(['enqueue', 'charge-order', '{"orderId":2,"cents":100}'], env);
    expect(later.code).toBe(0);
    const { rows } = await pool.query(
      'select queue, max_attempts, timeout_ms from tandem.tasks where id = $1',
      [JSON.parse(later.stdout).id],
    );
    expect(rows[0]).toEqual({ queue: 'payments', max_attempts: 3, timeout_ms: 10_000 });

    const keyed = await tandem(
      ['enqueue', 'charge-order', '{"orderId":3,"cents":100}', '--concurrency-key', 'customer:ada'],
      env,
    );
    expect(keyed.code).toBe(0);
    const { rows: k } = await pool.query('select concurrency_key from tandem.tasks where id = $1', [
      JSON.parse(keyed.stdout).id,
    ]);
    expect(k[0].concurrency_key).toBe('customer:ada');

    const list = await tandem(['task-types'], env);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/charge-order\s+payments\s+3\s+10s/);
    // The misspelt name is still waiting, and said so.
    expect(list.stderr).toMatch(/charge-ordr\s+default\s+1/);
    expect(list.stderr).not.toMatch(/charge-order\s/);

    const json = await tandem(['task-types', '--json'], env);
    const parsed = JSON.parse(json.stdout);
    expect(parsed.taskTypes.map((t: { name: string }) => t.name)).toEqual([
      'charge-order',
      'report-totals',
      'send-receipt',
    ]);
    expect(parsed.unregistered).toEqual([expect.objectContaining({ name: 'charge-ordr' })]);
  }, 120_000); // nine CLI processes in a row, a second or more each
});
