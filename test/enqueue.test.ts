import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createTandem, defineTask, type Tandem, TandemError } from '../src/index.js';
import { freshDatabase } from './support/db.js';

const chargeOrder = defineTask({
  name: 'charge-order',
  queue: 'payments',
  payload: z.object({ orderId: z.number().int(), cents: z.number().int().positive() }),
  handler: async () => ({ ok: true }),
});
const sendReceipt = defineTask({
  name: 'send-receipt',
  payload: z.object({ orderId: z.number().int(), meta: z.any().optional() }),
  handler: async () => {},
});

let url: string;
let pool: pg.Pool;
let db: Kysely<any>;
let tandem: Tandem;

beforeAll(async () => {
  url = await freshDatabase();
  pool = new pg.Pool({ connectionString: url, max: 60 });
  db = new Kysely({ dialect: new PostgresDialect({ pool }) });
  tandem = createTandem({ pool, tasks: [chargeOrder, sendReceipt] });
  await db.schema
    .createTable('orders')
    .ifNotExists()
    .addColumn('id', 'serial', (c) => c.primaryKey())
    .addColumn('cents', 'integer')
    .execute();
});
afterAll(async () => {
  await tandem.close();
  await db.destroy();
});

const count = async (where = 'true') =>
  Number(
    (await pool.query(`select count(*)::int as n from tandem.tasks where ${where}`)).rows[0].n,
  );

describe('transactional enqueue', () => {
  it('commits the task with a Kysely transaction and leaves nothing on rollback', async () => {
    const id = await db.transaction().execute(async (trx) => {
      const order = await trx
        .insertInto('orders')
        .values({ cents: 500 })
        .returning('id')
        .executeTakeFirstOrThrow();
      const r = await tandem.enqueue(trx, chargeOrder, { orderId: order.id, cents: 500 });
      expect(r).toMatchObject({ inserted: true, state: 'queued' });
      return r.id;
    });
    const task = await tandem.getTask(id);
    expect(task).toMatchObject({
      name: 'charge-order',
      queue: 'payments',
      state: 'queued',
      attempt: 0,
      maxAttempts: 4,
    });

    let rolledBackId = '';
    await expect(
      db.transaction().execute(async (trx) => {
        rolledBackId = (await tandem.enqueue(trx, chargeOrder, { orderId: 2, cents: 1 })).id;
        throw new Error('business rule failed');
      }),
    ).rejects.toThrow('business rule failed');
    expect(await tandem.getTask(rolledBackId)).toBeNull();
  });

  it('works with a pg PoolClient inside BEGIN, and with a Pool in autocommit', async () => {
    const client = await pool.connect();
    try {
      await client.query('begin');
      const r = await tandem.enqueue(client, 'send-receipt', { orderId: 7 });
      await client.query('rollback');
      expect(await tandem.getTask(r.id)).toBeNull();
      await client.query('begin');
      const r2 = await tandem.enqueue(client, 'send-receipt', { orderId: 8 });
      await client.query('commit');
      expect((await tandem.getTask(r2.id))?.payload).toEqual({ orderId: 8 });
    } finally {
      client.release();
    }
    const r3 = await tandem.enqueue(pool, sendReceipt, { orderId: 9 });
    expect(r3.inserted).toBe(true);
    const r4 = await tandem.enqueue(db, sendReceipt, { orderId: 10 });
    expect(await tandem.getTask(r4.id)).not.toBeNull();
  });

  it('applies runAt, delay, priority, queue and maxAttempts', async () => {
    const at = new Date(Date.now() + 3_600_000);
    const a = await tandem.enqueue(
      pool,
      sendReceipt,
      { orderId: 1 },
      { runAt: at, priority: -5, queue: 'mail', maxAttempts: 9 },
    );
    const ta = await tandem.getTask(a.id);
    expect(ta?.runAt.getTime()).toBe(at.getTime());
    expect(ta).toMatchObject({ priority: -5, queue: 'mail', maxAttempts: 9 });
    const b = await tandem.enqueue(pool, sendReceipt, { orderId: 1 }, { delay: '10m' });
    const tb = await tandem.getTask(b.id);
    const ahead = tb!.runAt.getTime() - tb!.createdAt.getTime();
    expect(ahead).toBeGreaterThanOrEqual(600_000 - 5);
    expect(ahead).toBeLessThan(600_000 + 2_000);
  });
});

describe('idempotency keys', () => {
  it('returns the existing task for a repeated name+key', async () => {
    const a = await tandem.enqueue(
      pool,
      chargeOrder,
      { orderId: 100, cents: 1 },
      { key: 'order:100' },
    );
    const b = await tandem.enqueue(
      pool,
      chargeOrder,
      { orderId: 100, cents: 1 },
      { key: 'order:100' },
    );
    expect(a.inserted).toBe(true);
    expect(b).toEqual({ id: a.id, inserted: false, state: 'queued' });
    // Same key under another task name is a different task.
    const c = await tandem.enqueue(pool, sendReceipt, { orderId: 100 }, { key: 'order:100' });
    expect(c.inserted).toBe(true);
    expect(c.id).not.toBe(a.id);
  });

  it('makes exactly one task when 50 transactions race on one key', async () => {
    const results = await Promise.all(
      Array.from({ length: 50 }, () =>
        db.transaction().execute(async (trx) => {
          const r = await tandem.enqueue(
            trx,
            chargeOrder,
            { orderId: 200, cents: 1 },
            { key: 'order:200' },
          );
          await sql`select pg_sleep(0.002)`.execute(trx);
          return r;
        }),
      ),
    );
    expect(results.filter((r) => r.inserted)).toHaveLength(1);
    expect(new Set(results.map((r) => r.id)).size).toBe(1);
    expect(await count(`key = 'order:200'`)).toBe(1);
  });

  it('lets the next transaction insert when the first holder rolls back', async () => {
    const first = await pool.connect();
    await first.query('begin');
    const held = await tandem.enqueue(
      first,
      chargeOrder,
      { orderId: 300, cents: 1 },
      { key: 'order:300' },
    );
    const second = tandem.enqueue(
      pool,
      chargeOrder,
      { orderId: 300, cents: 1 },
      { key: 'order:300' },
    );
    await new Promise((r) => setTimeout(r, 100)); // second is now waiting on the key
    await first.query('rollback');
    first.release();
    const r = await second;
    expect(r.inserted).toBe(true);
    expect(r.id).not.toBe(held.id);
    expect(await count(`key = 'order:300'`)).toBe(1);
  });

  it('keeps the key taken after the task finishes', async () => {
    const a = await tandem.enqueue(
      pool,
      chargeOrder,
      { orderId: 400, cents: 1 },
      { key: 'order:400' },
    );
    await pool.query(
      `update tandem.tasks set state = 'succeeded', finished_at = now() where id = $1`,
      [a.id],
    );
    const b = await tandem.enqueue(
      pool,
      chargeOrder,
      { orderId: 400, cents: 1 },
      { key: 'order:400' },
    );
    expect(b).toEqual({ id: a.id, inserted: false, state: 'succeeded' });
  });
});

describe('enqueueMany', () => {
  it('inserts a batch in input order and reports duplicates in place', async () => {
    const existing = await tandem.enqueue(
      pool,
      chargeOrder,
      { orderId: 500, cents: 1 },
      { key: 'order:500' },
    );
    const res = await tandem.enqueueMany(pool, [
      { task: sendReceipt, payload: { orderId: 1 } },
      { task: chargeOrder, payload: { orderId: 500, cents: 1 }, options: { key: 'order:500' } },
      { task: chargeOrder, payload: { orderId: 501, cents: 1 }, options: { key: 'order:501' } },
      { task: 'send-receipt', payload: { orderId: 2 } },
      { task: chargeOrder, payload: { orderId: 501, cents: 1 }, options: { key: 'order:501' } },
    ]);
    expect(res.map((r) => r.inserted)).toEqual([true, false, true, true, false]);
    expect(res[1]!.id).toBe(existing.id);
    expect(res[4]!.id).toBe(res[2]!.id);
    const payloads = await Promise.all(res.map(async (r) => (await tandem.getTask(r.id))?.payload));
    expect(payloads).toEqual([
      { orderId: 1 },
      { orderId: 500, cents: 1 },
      { orderId: 501, cents: 1 },
      { orderId: 2 },
      { orderId: 501, cents: 1 },
    ]);
  });

  it("stores each item's own options, whether they differ or the whole batch shares them", async () => {
    const at = new Date(Date.now() + 3_600_000);
    const mixed = await tandem.enqueueMany(pool, [
      {
        task: sendReceipt,
        payload: { orderId: 1 },
        options: { priority: 3, queue: 'q.1', key: 'k"1\\{x}' },
      },
      { task: sendReceipt, payload: { orderId: 2 }, options: { runAt: at, maxAttempts: 2 } },
      { task: sendReceipt, payload: { orderId: 3 }, options: { delay: '1h', metadata: { t: 1 } } },
    ]);
    const shared = await tandem.enqueueMany(
      pool,
      [1, 2].map((orderId) => ({
        task: sendReceipt,
        payload: { orderId },
        options: { priority: 7, queue: 'bulk', runAt: at, maxAttempts: 5, metadata: { s: 1 } },
      })),
    );
    const rows = await Promise.all([...mixed, ...shared].map((r) => tandem.getTask(r.id)));
    const cols = rows.map((r) => [r?.priority, r?.queue, r?.key, r?.maxAttempts, r?.metadata]);
    expect(cols).toEqual([
      [3, 'q.1', 'k"1\\{x}', 4, null],
      [0, 'default', null, 2, null],
      [0, 'default', null, 4, { t: 1 }],
      [7, 'bulk', null, 5, { s: 1 }],
      [7, 'bulk', null, 5, { s: 1 }],
    ]);
    expect(rows[1]!.runAt.getTime()).toBe(at.getTime());
    expect(rows[2]!.runAt.getTime() - Date.now()).toBeGreaterThan(3_500_000);
    expect(rows[3]!.runAt.getTime()).toBe(at.getTime());
    expect(rows[0]!.runAt.getTime()).toBeLessThanOrEqual(Date.now());
  });

  it('is one statement for the whole batch', async () => {
    const client = await pool.connect();
    const seen: string[] = [];
    const original = client.query.bind(client);
    (client as any).query = (text: any, params: any) => {
      seen.push(typeof text === 'string' ? text : text.text);
      return original(text, params);
    };
    try {
      const items = Array.from({ length: 1000 }, (_, i) => ({
        task: sendReceipt,
        payload: { orderId: i },
      }));
      const res = await tandem.enqueueMany(client, items);
      expect(res).toHaveLength(1000);
      expect(seen).toHaveLength(1);
      // Each id is the row of its own item.
      const stored = await pool.query(
        `select id::text, (payload->>'orderId')::int as n from tandem.tasks where id = any($1::bigint[])`,
        [res.map((r) => r.id)],
      );
      const byId = new Map(stored.rows.map((r) => [r.id, r.n]));
      expect(res.map((r) => byId.get(r.id))).toEqual(items.map((i) => i.payload.orderId));
    } finally {
      (client as any).query = original;
      client.release();
    }
  });
});

describe('SQL enqueue', () => {
  it('enqueues from plain SQL with the same idempotency', async () => {
    const a = await pool.query(
      `select tandem.enqueue('charge-order', '{"orderId":600,"cents":5}'::jsonb, key => 'order:600', queue => 'payments') as id`,
    );
    const b = await pool.query(
      `select tandem.enqueue('charge-order', '{"orderId":600,"cents":5}'::jsonb, key => 'order:600') as id`,
    );
    expect(b.rows[0].id).toBe(a.rows[0].id);
    const task = await tandem.getTask(a.rows[0].id);
    expect(task).toMatchObject({
      queue: 'payments',
      key: 'order:600',
      state: 'queued',
      payload: { orderId: 600, cents: 5 },
    });
    const client = await pool.connect();
    await client.query('begin');
    const c = await client.query(
      `select tandem.enqueue('send-receipt', '{"orderId":601}', run_at => now() + interval '1 hour', priority => 3) as id`,
    );
    await client.query('rollback');
    client.release();
    expect(await tandem.getTask(c.rows[0].id)).toBeNull();
  });

  it('rejects max_attempts below 1', async () => {
    await expect(pool.query(`select tandem.enqueue('x', '{}', max_attempts => 0)`)).rejects.toThrow(
      /max_attempts must be at least 1/,
    );
  });
});

describe('bad input changes nothing and leaves the transaction usable', () => {
  const cyclic: any = { orderId: 1 };
  cyclic.self = cyclic;
  const cases: [string, () => Promise<unknown>, string, RegExp][] = [
    [
      'unknown task',
      () => tandem.enqueue(pool, 'no-such-task', {}),
      'UNKNOWN_TASK',
      /unknown task "no-such-task"; known tasks: charge-order, send-receipt/,
    ],
    [
      'schema failure',
      () => tandem.enqueue(pool, chargeOrder, { orderId: 1.5, cents: -1 } as any),
      'INVALID_PAYLOAD',
      /orderId: .*; cents: /,
    ],
    [
      'BigInt',
      () => tandem.enqueue(pool, sendReceipt, { orderId: 1, meta: { n: 10n } }),
      'PAYLOAD_NOT_JSON',
      /BigInt at meta.n/,
    ],
    [
      'cycle',
      () => tandem.enqueue(pool, sendReceipt, { orderId: 1, meta: cyclic }),
      'PAYLOAD_NOT_JSON',
      /circular/,
    ],
    [
      'function',
      () => tandem.enqueue(pool, sendReceipt, { orderId: 1, meta: { f: () => 1 } }),
      'PAYLOAD_NOT_JSON',
      /function at meta.f/,
    ],
    [
      'too large',
      () => tandem.enqueue(pool, sendReceipt, { orderId: 1, meta: 'x'.repeat(300_000) }),
      'PAYLOAD_TOO_LARGE',
      /over the 262144-byte limit/,
    ],
    [
      'negative delay',
      () => tandem.enqueue(pool, sendReceipt, { orderId: 1 }, { delay: -5 }),
      'INVALID_OPTIONS',
      /delay must be a non-negative/,
    ],
    [
      'fractional priority',
      () => tandem.enqueue(pool, sendReceipt, { orderId: 1 }, { priority: 1.5 }),
      'INVALID_OPTIONS',
      /priority must be an integer from -2147483648 to 2147483647, got 1.5/,
    ],
    [
      'maxAttempts 0',
      () => tandem.enqueue(pool, sendReceipt, { orderId: 1 }, { maxAttempts: 0 }),
      'INVALID_OPTIONS',
      /maxAttempts must be an integer from 1 to 1000000/,
    ],
    [
      'unknown option',
      () => tandem.enqueue(pool, sendReceipt, { orderId: 1 }, { keyy: 'x' } as any),
      'INVALID_OPTIONS',
      /unknown option "keyy"/,
    ],
  ];

  for (const [label, call, code, message] of cases) {
    it(`rejects ${label} with ${code}`, async () => {
      const before = await count();
      const err = await call().then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(TandemError);
      expect((err as TandemError).code).toBe(code);
      expect((err as TandemError).message).toMatch(message);
      expect(await count()).toBe(before);
    });
  }

  it('lists each zod issue with its path', async () => {
    const err = (await tandem
      .enqueue(pool, chargeOrder, { orderId: 'x', cents: 0 } as any)
      .catch((e) => e)) as TandemError;
    expect((err.details as { path: string }[]).map((i) => i.path)).toEqual(['orderId', 'cents']);
  });

  it('keeps the caller transaction usable after a rejected enqueue', async () => {
    const orderId = await db.transaction().execute(async (trx) => {
      await expect(tandem.enqueue(trx, chargeOrder, { orderId: 1, cents: -3 })).rejects.toThrow(
        TandemError,
      );
      await expect(
        tandem.enqueueMany(trx, [
          { task: sendReceipt, payload: { orderId: 1 } },
          { task: 'nope', payload: {} },
        ]),
      ).rejects.toThrow(/unknown task/);
      const order = await trx
        .insertInto('orders')
        .values({ cents: 42 })
        .returning('id')
        .executeTakeFirstOrThrow();
      await tandem.enqueue(
        trx,
        chargeOrder,
        { orderId: order.id, cents: 42 },
        { key: `order:${order.id}` },
      );
      return order.id;
    });
    expect(await count(`key = 'order:${orderId}'`)).toBe(1);
  });
});

describe('schema guarantees', () => {
  it('rejects unknown states, empty names and a max_attempts below 1 written by plain SQL', async () => {
    const r = await tandem.enqueue(pool, sendReceipt, { orderId: 1 });
    await expect(
      pool.query(`update tandem.tasks set state = 'done' where id = $1`, [r.id]),
    ).rejects.toThrow(/task_state/);
    await expect(
      pool.query(`insert into tandem.tasks (name, payload) values ('', '{}')`),
    ).rejects.toThrow(/domain tandem.label/);
    await expect(
      pool.query(`insert into tandem.tasks (name, queue, payload) values ('x', '', '{}')`),
    ).rejects.toThrow(/domain tandem.label/);
    await expect(
      pool.query(`update tandem.tasks set max_attempts = 0 where id = $1`, [r.id]),
    ).rejects.toThrow(/attempt_limit/);
    expect((await tandem.getTask(r.id))?.state).toBe('queued');
  });

  it('migrates safely when several processes migrate at once, recording each version once', async () => {
    const fresh = await freshDatabase();
    const admin = new pg.Client(fresh);
    await admin.connect();
    await admin.query('drop schema tandem cascade');
    const clients = Array.from({ length: 6 }, () => createTandem({ connectionString: fresh }));
    const results = await Promise.all(clients.map((c) => c.migrate()));
    await Promise.all(clients.map((c) => c.close()));
    expect(results.filter((r) => r.applied.length > 0)).toHaveLength(1);
    const { rows } = await admin.query(
      'select version, name from tandem.migrations order by version',
    );
    await admin.end();
    expect(rows[0]).toEqual({ version: 1, name: 'init' });
    expect(new Set(rows.map((r) => r.version)).size).toBe(rows.length);
  });
});

describe('wake-up on commit', () => {
  it('notifies listeners when the enqueuing transaction commits, not before', async () => {
    const listener = new pg.Client(url);
    await listener.connect();
    const got: string[] = [];
    listener.on('notification', (n) => got.push(n.payload ?? ''));
    await listener.query('listen tandem_wake');
    const quiet = createTandem({ pool, tasks: [sendReceipt] });
    const client = await pool.connect();
    await client.query('begin');
    await quiet.enqueue(client, sendReceipt, { orderId: 1 }, { queue: 'wake-test' });
    await new Promise((r) => setTimeout(r, 50));
    expect(got).not.toContain('wake-test');
    await client.query('commit');
    client.release();
    await new Promise((r) => setTimeout(r, 50));
    expect(got.filter((q) => q === 'wake-test')).toHaveLength(1);
    await listener.end();
  });

  it('debounces: a burst of enqueues sends far fewer notifications than transactions', async () => {
    const listener = new pg.Client(url);
    await listener.connect();
    let n = 0;
    listener.on('notification', (m) => {
      if (m.payload === 'burst') n++;
    });
    await listener.query('listen tandem_wake');
    const t = createTandem({ pool, tasks: [sendReceipt], wakeDebounceMs: 50 });
    const start = performance.now();
    for (let i = 0; i < 200; i++)
      await t.enqueue(pool, sendReceipt, { orderId: i }, { queue: 'burst' });
    const elapsed = performance.now() - start;
    await new Promise((r) => setTimeout(r, 50));
    await listener.end();
    expect(n).toBeGreaterThanOrEqual(1);
    expect(n).toBeLessThanOrEqual(Math.ceil(elapsed / 50) + 1);
    expect(n).toBeLessThan(200);
  });
});
