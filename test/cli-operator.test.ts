/** The operator commands of the CLI, as real processes: serve, tasks, retry (bulk), delete, wait. */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase } from './support/db.js';
import { waitFor } from './support/wait.js';

const root = fileURLToPath(new URL('..', import.meta.url));
let pool: pg.Pool;
let env: Record<string, string>;

function start(args: string[]) {
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', ...args],
    {
      cwd: root,
      env: { ...process.env, TANDEM_LOG_LEVEL: 'warn', TANDEM_API_TOKEN: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  return { child, stdout: () => out, stderr: () => err, exited };
}
async function tandem(args: string[]) {
  const r = start(args);
  const code = await r.exited;
  return { code, stdout: r.stdout(), stderr: r.stderr() };
}

beforeAll(async () => {
  const url = await freshDatabase();
  pool = new pg.Pool({ connectionString: url, max: 2 });
  env = { DATABASE_URL: url };
  await pool.query(`
    insert into tandem.tasks (name, payload, key, state, finished_at, attempt, errors) values
      ('charge-order', '{"orderId":1}', 'order:1', 'failed', now(), 4, '[{"attempt":4,"at":"2026-01-01T00:00:00Z","name":"Error","message":"card declined"}]'),
      ('charge-order', '{"orderId":2}', 'order:2', 'failed', now(), 4, '[]'),
      ('send-receipt', '{"orderId":1}', 'order:1', 'succeeded', now(), 1, '[]'),
      ('send-receipt', '{"orderId":3}', 'order:3', 'queued', null, 0, '[]')`);
});
afterAll(() => pool.end());

describe.concurrent('operator commands', () => {
  it('tasks lists with filters, as a table or JSON', async () => {
    const [table, json] = await Promise.all([
      tandem(['tasks', '--key', 'order:1']),
      tandem(['tasks', '--status', 'succeeded,queued', '--name', 'send-receipt', '--json']),
    ]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^\s*ID\s+NAME\s+QUEUE\s+STATE/);
    expect(table.stdout).toContain('card declined');
    expect(table.stdout.trim().split('\n')).toHaveLength(3);
    expect(json.code).toBe(0);
    const page = JSON.parse(json.stdout);
    expect(page.tasks.map((t: any) => t.payload.orderId)).toEqual([3, 1]);
    const bad = await tandem(['tasks', '--status', 'done']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown state "done"/);
  });

  it('retry by filter counts first: without a terminal it needs --yes; then retries and logs who did it', async () => {
    const asked = await tandem(['retry', '--status', 'failed', '--name', 'charge-order']);
    expect(asked.code).toBe(1);
    expect(asked.stderr).toContain('2 tasks match; add --yes');
    expect(
      (await pool.query(`select count(*)::int as n from tandem.tasks where state = 'failed'`))
        .rows[0].n,
    ).toBe(2);
    const done = await tandem(['retry', '--status', 'failed', '--name', 'charge-order', '--yes']);
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toBe('retried 2 tasks\n');
    const { rows } = await pool.query(
      `select actor, action, affected, target from tandem.operator_actions where action = 'bulk-retry'`,
    );
    expect(rows).toEqual([
      {
        actor: expect.stringMatching(/^cli/),
        action: 'bulk-retry',
        affected: 2,
        target: { filter: { status: ['failed'], name: 'charge-order' } },
      },
    ]);
    expect((await tandem(['retry'])).code).toBe(2);
  });

  it('delete removes a task; wait prints a finished task and exits by its outcome', async () => {
    const { rows } = await pool.query(`
      insert into tandem.tasks (name, payload, state, finished_at, attempt, result) values
        ('x', '{}', 'succeeded', now(), 1, '{"ok":true}'), ('x', '{}', 'cancelled', now(), 0, null), ('x', '{}', 'queued', null, 0, null)
      returning id::text`);
    const [ok, cancelled, queued] = rows.map((r) => r.id);
    const [w1, w2, w3, del, missing] = await Promise.all([
      tandem(['wait', ok]),
      tandem(['wait', cancelled]),
      tandem(['wait', queued, '--timeout', '300ms']),
      tandem(['delete', queued]),
      tandem(['delete', '987654']),
    ]);
    expect(w1.code).toBe(0);
    expect(JSON.parse(w1.stdout)).toMatchObject({
      id: ok,
      state: 'succeeded',
      result: { ok: true },
    });
    expect(w2.code).toBe(1);
    expect(del.code, del.stderr).toBe(0);
    expect(JSON.parse(del.stdout)).toEqual({ id: queued, deleted: true });
    expect(w3.code).toBe(1);
    expect(w3.stderr).toMatch(/did not finish within 300 ms|no task with id/);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no task with id 987654');
  });

  it('serve answers with a token from --token-file, refuses a public address without one, stops on SIGTERM', async () => {
    const refused = await tandem(['serve', '--host', '0.0.0.0', '--port', '0']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/refusing to listen on 0\.0\.0\.0 without a token/);
    const file = join(tmpdir(), `tandem-token-${process.pid}`);
    const token = 'cli-test-token-0123456789abcdef';
    writeFileSync(file, `${token}\n`);
    const server = start(['serve', '--port', '0', '--token-file', file]);
    try {
      const url = await waitFor(
        () => /API on (http:\/\/[^ ]+)/.exec(server.stderr())?.[1],
        20_000,
        'the server to start',
      );
      expect((await fetch(`${url}/api/queues`)).status).toBe(401);
      const res = await fetch(`${url}/api/tasks?key=order:1`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { tasks: unknown[] }).tasks).toHaveLength(2);
    } finally {
      server.child.kill('SIGTERM');
    }
    expect(await server.exited, server.stderr()).toBe(0);
    expect(server.stderr()).toContain('server stopped');
  });
});
