/**
 * The README's walkthrough, run as written (through tsx) against a fresh
 * database. `.ci/run` also runs it compiled, from the packed package.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { expect, it } from 'vitest';
import { freshDatabase } from '../../test/support/db.js';

const main = fileURLToPath(new URL('./main.ts', import.meta.url));

it('runs to the end, charges the order once, and exits at once', async () => {
  const url = await freshDatabase();
  const started = Date.now();
  const child = spawn(process.execPath, ['--import', 'tsx', main], {
    env: { ...process.env, DATABASE_URL: url, TANDEM_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    out += s;
  });
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    err += s;
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  expect(code, err).toBe(0);
  expect(out).toContain('enqueued again with key charge:1: inserted = false');
  expect(out).toMatch(
    /task 1 charge-order: succeeded after 1 attempt\(s\), result \{ charged: 500 \}/,
  );
  expect(out).toContain('order 1: 1 payment of 500 cents');
  // No pool or timer keeps the process alive after the shutdown lines.
  expect(Date.now() - started).toBeLessThan(10_000);

  const db = new pg.Client(url);
  await db.connect();
  try {
    const { rows } = await db.query(`select name, state, key from tandem.tasks order by id`);
    expect(rows).toEqual([
      { name: 'charge-order', state: 'succeeded', key: 'charge:1' },
      { name: 'send-receipt', state: 'succeeded', key: 'receipt:1' },
    ]);
  } finally {
    await db.end();
  }
});
