/**
 * listTasks keyset pages over a table larger than one scan window, and the
 * bulk actions that walk the same pages.
 */
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SCAN_WINDOW } from '../src/client/list-tasks.js';
import { createTandem, type Tandem, type TaskFilter } from '../src/index.js';
import { freshDatabase } from './support/db.js';
import { quietLogger } from './support/quiet-logger.js';

let pool: pg.Pool;
let tandem: Tandem;
const ROWS = 45_000;

beforeAll(async () => {
  const url = await freshDatabase();
  pool = new pg.Pool({ connectionString: url, max: 2 });
  tandem = createTandem({ connectionString: url, logger: quietLogger });
});
afterAll(async () => {
  await tandem.close();
  await pool.end();
});
beforeEach(async () => {
  await pool.query('truncate tandem.tasks restart identity');
  // 45,000 succeeded tasks; every 10,000th is named 'rare' and failed.
  await pool.query(
    `insert into tandem.tasks (name, payload, key, state, finished_at, attempt)
     select case when i % 10000 = 0 then 'rare' else 'common' end, jsonb_build_object('i', i),
            'order:' || i, case when i % 10000 = 0 then 'failed' else 'succeeded' end, now(), 1
       from generate_series(1, ${ROWS}) i`,
  );
  await pool.query('analyze tandem.tasks');
});

async function all(filter: TaskFilter, limit = 500) {
  const out: number[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const page = await tandem.listTasks(filter, { limit, cursor });
    out.push(...page.tasks.map((t) => (t.payload as { i: number }).i));
    cursor = page.nextCursor;
    pages++;
  } while (cursor && pages < 1000);
  return { out, pages };
}

describe('listTasks', () => {
  it('reads a bounded window of ids per page for filters no index serves, and still finds every match', async () => {
    expect(BigInt(ROWS)).toBeGreaterThan(2n * SCAN_WINDOW);
    const first = await tandem.listTasks(
      { name: 'rare', states: ['succeeded', 'failed'] },
      { limit: 10 },
    );
    // The newest window (ids 25,001-45,000) holds two of the four.
    expect(first.tasks.map((t) => t.id)).toEqual(['40000', '30000']);
    expect(first.nextCursor).not.toBeNull();
    const { out, pages } = await all({ name: 'rare', states: ['succeeded', 'failed'] }, 10);
    expect(out).toEqual([40000, 30000, 20000, 10000]);
    expect(pages).toBe(3);
  });

  it('uses the indexes for failed tasks and exact keys: one page, no window', async () => {
    const failed = await tandem.listTasks({ states: ['failed'] }, { limit: 10 });
    expect(failed.tasks.map((t) => t.id)).toEqual(['40000', '30000', '20000', '10000']);
    expect(failed.nextCursor).toBeNull();
    const key = await tandem.listTasks({ key: 'order:7' });
    expect(key.tasks.map((t) => t.id)).toEqual(['7']);
    const { out } = await all({ keyPrefix: 'order:4499' });
    expect(out.sort((a, b) => a - b)).toEqual([
      4499, 44990, 44991, 44992, 44993, 44994, 44995, 44996, 44997, 44998, 44999,
    ]);
  });

  it('pages through everything once, newest first', async () => {
    const { out } = await all({}, 500);
    expect(out).toHaveLength(ROWS);
    expect(out[0]).toBe(ROWS);
    expect(new Set(out).size).toBe(ROWS);
    for (let i = 1; i < out.length; i++) expect(out[i]).toBeLessThan(out[i - 1]!);
  });

  it('refuses bad filters, limits and cursors before any SQL', async () => {
    await expect(tandem.listTasks({ nosuch: 1 } as never)).rejects.toMatchObject({
      code: 'INVALID_FILTER',
    });
    await expect(tandem.listTasks({ states: ['done' as never] })).rejects.toThrow(
      /unknown task state "done"/,
    );
    await expect(tandem.listTasks({}, { limit: 501 })).rejects.toMatchObject({
      code: 'INVALID_OPTIONS',
    });
    await expect(tandem.listTasks({}, { cursor: 'nope' })).rejects.toMatchObject({
      code: 'INVALID_CURSOR',
    });
    await expect(tandem.listTasks({ payloadContains: 'x' as never })).rejects.toMatchObject({
      code: 'INVALID_FILTER',
    });
  });
});

describe('bulk actions', () => {
  it('retry, cancel and delete by filter across windows, in batches, with dry runs and counts', async () => {
    const dry = await tandem.retryTasks({ filter: { name: 'rare' } }, { dryRun: true });
    expect(dry.affected).toBe(4);
    expect(
      (await pool.query(`select count(*)::int as n from tandem.tasks where state = 'failed'`))
        .rows[0].n,
    ).toBe(4);
    const retried = await tandem.retryTasks({ filter: { name: 'rare' } });
    expect(retried.affected).toBe(4);
    expect(retried.ids.sort()).toEqual(['10000', '20000', '30000', '40000']);
    const cancelled = await tandem.cancelTasks({ filter: { states: ['queued'] } });
    expect(cancelled.affected).toBe(4);
    const deleted = await tandem.deleteTasks({ filter: { keyPrefix: 'order:1' } });
    // order:1, order:10-19, 100-199, 1000-1999, 10000-19999
    expect(deleted.affected).toBe(1 + 10 + 100 + 1000 + 10000);
    expect((await pool.query('select count(*)::int as n from tandem.tasks')).rows[0].n).toBe(
      ROWS - 11111,
    );
    const byIds = await tandem.deleteTasks({ ids: ['2', 3, 4n, '999999'] });
    expect(byIds.affected).toBe(3);
    await expect(tandem.deleteTasks({ filter: {} })).rejects.toMatchObject({
      code: 'INVALID_FILTER',
    });
    await expect(tandem.retryTasks({ ids: ['x'] })).rejects.toMatchObject({ code: 'INVALID_ID' });
  });

  it('skips tasks the action does not apply to', async () => {
    await pool.query(
      `update tandem.tasks set state = 'running', owner = 'w', finished_at = null where id in (1, 2)`,
    );
    expect((await tandem.deleteTasks({ ids: ['1', '2', '3'] })).affected).toBe(1);
    expect((await tandem.retryTasks({ ids: ['1', '2'] })).affected).toBe(0);
  });
});
