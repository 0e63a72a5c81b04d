import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createTandem, defineTask, type Tandem, TandemError } from '../src/index.js';
import { freshDatabase } from './support/db.js';
import { quietLogger } from './support/quiet-logger.js';

const payments = defineTask({
  name: 'payments',
  queue: 'payments',
  maxAttempts: 1,
  timeout: '5s',
  payload: z.object({ orderId: z.number().int() }),
  handler: async () => ({ ok: true }),
});

const perCustomer = defineTask({
  name: 'per-customer',
  queue: 'tenants',
  concurrencyKey: 'customer:{customerId}/{address.country}',
  keyConcurrency: 1,
  payload: z.object({
    customerId: z.union([z.number(), z.string()]),
    address: z.object({ country: z.string() }).optional(),
  }),
  handler: async () => {},
});

const byFunction = defineTask({
  name: 'by-function',
  concurrencyKey: (p: { tenant: string }) => `tenant:${p.tenant.toUpperCase()}`,
  payload: z.object({ tenant: z.string() }),
  handler: async () => {},
});

let url: string;
let pool: pg.Pool;
let db: Kysely<any>;
let tandem: Tandem;

beforeAll(async () => {
  url = await freshDatabase();
  pool = new pg.Pool({ connectionString: url, max: 10 });
  db = new Kysely({ dialect: new PostgresDialect({ pool }) });
  tandem = createTandem({ pool, logger: quietLogger });
});
afterAll(async () => {
  await tandem.close();
  await db.destroy();
});

const sqlEnqueue = async (name: string, payload: unknown, extra = '') =>
  (
    await pool.query<{ id: string }>(`select tandem.enqueue($1, $2::jsonb${extra})::text as id`, [
      name,
      JSON.stringify(payload),
    ])
  ).rows[0]!.id;

const row = async (id: string) =>
  (
    await pool.query(
      'select name, queue, priority, max_attempts, timeout_ms, concurrency_key, pending_defaults from tandem.tasks where id = $1',
      [id],
    )
  ).rows[0];

describe('SQL enqueue applies the registered definition', () => {
  it('puts a payments task into payments with 1 attempt and a 5 s timeout once a worker registered it', async () => {
    const before = await sqlEnqueue('payments', { orderId: 0 });
    // Not registered yet: the SQL defaults, and marked as waiting for its definition.
    expect(await row(before)).toMatchObject({ queue: 'default', max_attempts: 4 });

    const t = createTandem({ pool, tasks: [payments], logger: quietLogger });
    const worker = t.worker({ queues: { payments: 1 }, pollInterval: '50ms' });
    await worker.start();
    await worker.stop();

    const id = await sqlEnqueue('payments', { orderId: 1 });
    expect(await row(id)).toMatchObject({
      queue: 'payments',
      max_attempts: 1,
      timeout_ms: 5000,
      pending_defaults: null,
    });
    // Explicit arguments still win over the registry.
    const own = await sqlEnqueue(
      'payments',
      { orderId: 2 },
      `, queue => 'urgent', max_attempts => 3`,
    );
    expect(await row(own)).toMatchObject({ queue: 'urgent', max_attempts: 3, timeout_ms: 5000 });

    const [type] = (await tandem.listTaskTypes()).filter((x) => x.name === 'payments');
    expect(type).toMatchObject({
      queue: 'payments',
      maxAttempts: 1,
      timeoutMs: 5000,
      keyKind: 'none',
      payloadSchema: expect.objectContaining({ type: 'object' }),
    });
    expect(type!.versions).toHaveLength(1);
    expect(type!.versions[0]!.seenBy).toEqual([worker.id]);
    await t.close();
  });

  it('fills concurrency_key from the template and refuses a payload without the field', async () => {
    await tandem.register(perCustomer);
    const id = await sqlEnqueue('per-customer', { customerId: 42, address: { country: 'NL' } });
    expect(await row(id)).toMatchObject({ queue: 'tenants', concurrency_key: 'customer:42/NL' });
    const given = await sqlEnqueue(
      'per-customer',
      { customerId: 1 },
      `, concurrency_key => 'mine'`,
    );
    expect((await row(given)).concurrency_key).toBe('mine');
    await expect(sqlEnqueue('per-customer', { customerId: 7 })).rejects.toThrow(
      /has no field 'address\.country'/,
    );
  });

  it('refuses SQL enqueue without a key when the definition computes it with a function', async () => {
    await tandem.register(byFunction);
    await expect(sqlEnqueue('by-function', { tenant: 'a' })).rejects.toThrow(
      /computes its concurrency key with a TypeScript function/,
    );
    const id = await sqlEnqueue('by-function', { tenant: 'a' }, `, concurrency_key => 'tenant:A'`);
    expect((await row(id)).concurrency_key).toBe('tenant:A');
  });
});

describe('names nobody registered', () => {
  it('accepts a misspelt name into default, marks it and lists it as unregistered', async () => {
    const id = await sqlEnqueue('paymnets', { orderId: 3 });
    expect(await row(id)).toMatchObject({
      queue: 'default',
      max_attempts: 4,
      timeout_ms: null,
      pending_defaults: ['queue', 'priority', 'max_attempts', 'timeout_ms', 'concurrency_key'],
    });
    const unregistered = await tandem.listUnregisteredTasks();
    expect(unregistered).toContainEqual(
      expect.objectContaining({ name: 'paymnets', queue: 'default', waiting: 1 }),
    );
    expect(unregistered.map((u) => u.name)).not.toContain('payments');
  });

  it('adopts tasks enqueued before registration into the definition, keeping what the caller gave', async () => {
    const late = defineTask({
      name: 'late-producer',
      queue: 'late',
      priority: 5,
      maxAttempts: 2,
      timeout: '1m',
      concurrencyKey: 'k:{id}',
      payload: z.object({ id: z.number() }),
      handler: async () => {},
    });
    const a = await sqlEnqueue('late-producer', { id: 1 });
    const b = await sqlEnqueue('late-producer', { id: 2 }, ', max_attempts => 9');
    const noField = await sqlEnqueue('late-producer', { other: 1 });
    const [reg] = await tandem.register(late);
    expect(reg).toMatchObject({ name: 'late-producer', changed: true, adopted: 3 });
    expect(await row(a)).toMatchObject({
      queue: 'late',
      priority: 5,
      max_attempts: 2,
      timeout_ms: 60_000,
      concurrency_key: 'k:1',
      pending_defaults: null,
    });
    expect(await row(b)).toMatchObject({ queue: 'late', max_attempts: 9, concurrency_key: 'k:2' });
    // A key the template cannot make from the payload stays null; the task is still adopted.
    expect(await row(noField)).toMatchObject({ queue: 'late', concurrency_key: null });
    expect((await tandem.listUnregisteredTasks()).map((u) => u.name)).not.toContain(
      'late-producer',
    );
  });

  it('a worker that registers a name runs the tasks enqueued before it', async () => {
    const early = defineTask({
      name: 'early-bird',
      queue: 'birds',
      payload: z.object({ n: z.number() }),
      handler: async (p) => p.n * 2,
    });
    const id = await sqlEnqueue('early-bird', { n: 21 });
    const t = createTandem({ pool, tasks: [early], logger: quietLogger });
    const worker = t.worker({ queues: { birds: 1 }, pollInterval: '50ms' });
    await worker.start();
    const done = await t.waitFor(id, { timeout: '10s' });
    await worker.stop();
    await t.close();
    expect(done).toMatchObject({ state: 'succeeded', queue: 'birds', result: 42 });
  });

  it('the leader adopts a marked task of a registered name (an enqueue that raced its registration)', async () => {
    const raced = defineTask({
      name: 'raced',
      queue: 'raced-q',
      maxAttempts: 2,
      payload: z.object({}),
      handler: async () => {},
    });
    await tandem.register(raced);
    // What an enqueue leaves when its transaction read the registry just before
    // the registration committed: the SQL defaults, still marked.
    const { rows } = await pool.query(
      `insert into tandem.tasks (name, payload, pending_defaults)
       values ('raced', '{}', '{queue,priority,max_attempts,timeout_ms,concurrency_key}') returning id::text`,
    );
    const other = defineTask({ name: 'unrelated', payload: z.object({}), handler: async () => {} });
    const t = createTandem({ pool, tasks: [other], logger: quietLogger });
    const worker = t.worker({ pollInterval: '50ms' });
    await worker.start();
    try {
      const deadline = Date.now() + 8_000;
      while ((await row(rows[0].id)).pending_defaults !== null && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
      expect(await row(rows[0].id)).toMatchObject({
        queue: 'raced-q',
        max_attempts: 2,
        pending_defaults: null,
      });
    } finally {
      await worker.stop();
      await t.close();
    }
  });

  it('raises in strict mode (tandem.unregistered_tasks = reject) and changes nothing', async () => {
    const client = await pool.connect();
    try {
      await client.query('begin');
      await client.query(`set local tandem.unregistered_tasks = 'reject'`);
      await expect(
        client.query(`select tandem.enqueue('paymnts', '{}'::jsonb)`),
      ).rejects.toMatchObject({
        code: '42704',
        message: expect.stringMatching(/no task named 'paymnts' is registered/),
      });
      await client.query('rollback');
      await client.query('begin');
      await client.query(`set local tandem.unregistered_tasks = 'reject'`);
      // A registered name still enqueues in strict mode.
      const { rows } = await client.query(
        `select tandem.enqueue('payments', '{"orderId":9}'::jsonb) as id`,
      );
      expect(rows[0].id).toBeTruthy();
      await client.query('rollback');
    } finally {
      client.release();
    }
    expect(
      (await pool.query(`select count(*)::int as n from tandem.tasks where name = 'paymnts'`))
        .rows[0].n,
    ).toBe(0);
  });
});

describe('versions', () => {
  it('shows two versions of one definition registered by two processes', async () => {
    const v1 = defineTask({
      name: 'versioned',
      maxAttempts: 3,
      payload: z.object({ a: z.number() }),
      handler: async () => {},
    });
    const v2 = defineTask({
      name: 'versioned',
      maxAttempts: 5,
      payload: z.object({ a: z.number(), b: z.string().optional() }),
      handler: async () => {},
    });
    const t1 = createTandem({ pool, tasks: [v1], logger: quietLogger });
    const t2 = createTandem({ pool, tasks: [v2], logger: quietLogger });
    const w1 = t1.worker({ pollInterval: '50ms' });
    const w2 = t2.worker({ pollInterval: '50ms' });
    await w1.start();
    await w2.start();
    try {
      const type = (await tandem.listTaskTypes()).find((x) => x.name === 'versioned')!;
      // The latest registration is the current definition.
      expect(type.maxAttempts).toBe(5);
      expect(type.versions).toHaveLength(2);
      expect(new Set(type.versions.map((v) => v.hash)).size).toBe(2);
      expect(type.versions.map((v) => v.liveWorkers)).toEqual([[w2.id], [w1.id]]);
      // Registering the same definition again changes nothing but the time seen.
      const [again] = await t2.register();
      expect(again).toMatchObject({ changed: false, hash: type.hash });
    } finally {
      await w1.stop();
      await w2.stop();
      await t1.close();
      await t2.close();
    }
    const after = (await tandem.listTaskTypes()).find((x) => x.name === 'versioned')!;
    expect(after.versions.every((v) => v.liveWorkers.length === 0)).toBe(true);
  });
});

describe('TypeScript door: concurrency keys', () => {
  it('fills concurrency_key from the template and from the function, single and bulk', async () => {
    const t = createTandem({ pool, tasks: [perCustomer, byFunction], logger: quietLogger });
    const one = await t.enqueue(pool, perCustomer, {
      customerId: 'c7',
      address: { country: 'FR' },
    });
    expect((await row(one.id)).concurrency_key).toBe('customer:c7/FR');
    const fn = await t.enqueue(pool, byFunction, { tenant: 'acme' });
    expect((await row(fn.id)).concurrency_key).toBe('tenant:ACME');
    const many = await db.transaction().execute((trx) =>
      t.enqueueMany(trx, [
        { task: perCustomer, payload: { customerId: 1, address: { country: 'DE' } } },
        { task: byFunction, payload: { tenant: 'b' } },
        { task: byFunction, payload: { tenant: 'c' }, options: { concurrencyKey: 'given' } },
      ]),
    );
    expect(await Promise.all(many.map(async (r) => (await row(r.id)).concurrency_key))).toEqual([
      'customer:1/DE',
      'tenant:B',
      'given',
    ]);
    // Same key for every row of a batch: sent once, as a shared column.
    const shared = await t.enqueueMany(pool, [
      { task: byFunction, payload: { tenant: 'x' } },
      { task: byFunction, payload: { tenant: 'x' } },
    ]);
    expect((await row(shared[1]!.id)).concurrency_key).toBe('tenant:X');
    await t.close();
  });

  it('refuses bad keys before any SQL, leaving the caller’s transaction usable', async () => {
    const bad = defineTask({
      name: 'bad-key',
      // Values a payload cannot carry itself (U+0000, a lone surrogate) come from the function.
      concurrencyKey: (p: { k: string }) =>
        ((({ nul: 'a\u0000b', lone: '\ud800', number: 7 }) as Record<string, unknown>)[
          p.k
        ] as string) ?? p.k,
      payload: z.object({ k: z.string() }),
      handler: async () => {},
    });
    const throws = defineTask({
      name: 'throwing-key',
      concurrencyKey: () => {
        throw new Error('no tenant');
      },
      payload: z.object({}),
      handler: async () => {},
    });
    const t = createTandem({ pool, tasks: [bad, throws, perCustomer], logger: quietLogger });
    const client = await pool.connect();
    try {
      await client.query('begin');
      const attempts: [() => Promise<unknown>, RegExp][] = [
        [() => t.enqueue(client, bad, { k: '' }), /non-empty string.*got ""/],
        [() => t.enqueue(client, bad, { k: 'x'.repeat(501) }), /at most 500.*501 characters/],
        [() => t.enqueue(client, bad, { k: 'nul' }), /without U\+0000/],
        [() => t.enqueue(client, bad, { k: 'lone' }), /without a lone surrogate/],
        [() => t.enqueue(client, bad, { k: 'number' }), /got number/],
        [() => t.enqueue(client, throws, {}), /function threw: no tenant/],
        [
          () => t.enqueue(client, perCustomer, { customerId: 1 }),
          /needs payload field "address\.country", which is missing/,
        ],
        [
          () => t.enqueue(client, perCustomer, { customerId: 1 }, { concurrencyKey: '' }),
          /options\.concurrencyKey must give a non-empty string/,
        ],
        [
          () =>
            t.enqueueMany(client, [
              { task: bad, payload: { k: 'fine' } },
              { task: bad, payload: { k: '' } },
            ]),
          /item 1: .*"bad-key"/,
        ],
      ];
      for (const [call, message] of attempts) {
        const err = await call().then(
          () => null,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(TandemError);
        expect((err as TandemError).code).toBe('INVALID_CONCURRENCY_KEY');
        expect((err as TandemError).message).toMatch(message);
      }
      // Still usable: nothing reached PostgreSQL.
      const ok = await t.enqueue(client, bad, { k: 'fine' });
      await client.query('commit');
      expect((await row(ok.id)).concurrency_key).toBe('fine');
    } finally {
      client.release();
    }
    await t.close();
  });
});

describe('HTTP API and dashboard', () => {
  it('lists task types, enqueues a name known only through the registry, and warns in /healthz', async () => {
    const { createApp } = await import('../src/http/index.js');
    const { call } = await import('./support/http.js');
    // This process has no definitions: everything comes from the registry.
    const bare = createTandem({ pool, logger: quietLogger });
    const app = createApp(bare);
    const list = await call(app, 'GET', '/api/task-types');
    expect(list.status).toBe(200);
    const pay = list.body.task_types.find((t: { name: string }) => t.name === 'payments');
    expect(pay).toMatchObject({
      queue: 'payments',
      max_attempts: 1,
      timeout_ms: 5000,
      concurrency_key: { kind: 'none', template: null },
      payload_schema: { type: 'object' },
    });
    const keyed = list.body.task_types.find((t: { name: string }) => t.name === 'per-customer');
    expect(keyed).toMatchObject({
      concurrency_key: { kind: 'template', template: 'customer:{customerId}/{address.country}' },
      key_limits: { concurrency: 1, order: 'strict' },
    });
    expect(list.body.unregistered).toContainEqual(
      expect.objectContaining({ name: 'paymnets', queue: 'default', waiting: 1 }),
    );

    const made = await call(app, 'POST', '/api/tasks', {
      json: { name: 'payments', payload: { orderId: 77 }, key: 'http:77' },
    });
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({ inserted: true, status: 'queued', validated: false });
    expect(await row(made.body.id)).toMatchObject({
      queue: 'payments',
      max_attempts: 1,
      timeout_ms: 5000,
    });
    const again = await call(app, 'POST', '/api/tasks', {
      json: { name: 'payments', payload: { orderId: 77 }, key: 'http:77' },
    });
    expect(again.body).toMatchObject({ id: made.body.id, inserted: false, status: 'queued' });

    const keyedTask = await call(app, 'POST', '/api/tasks', {
      json: { name: 'per-customer', payload: { customerId: 5, address: { country: 'IT' } } },
    });
    expect((await row(keyedTask.body.id)).concurrency_key).toBe('customer:5/IT');
    const missing = await call(app, 'POST', '/api/tasks', {
      json: { name: 'per-customer', payload: { customerId: 5 } },
    });
    expect(missing.status).toBe(400);
    expect(missing.body.error.code).toBe('INVALID_CONCURRENCY_KEY');
    expect(missing.body.error.message).toMatch(/no field 'address\.country'/);

    const health = await call(app, 'GET', '/healthz');
    expect(health.status).toBe(200);
    expect(health.body.warnings).toEqual([
      expect.stringMatching(/^1 waiting task of 1 unregistered task name: /),
    ]);
    expect(JSON.stringify(health.body)).not.toContain('paymnets');

    const openapi = await call(app, 'GET', '/api/openapi.json');
    expect(Object.keys(openapi.body.paths)).toContain('/api/task-types');

    const page = await app.request('/task-types');
    const html = await page.text();
    expect(page.status).toBe(200);
    expect(html).toContain('<h1>Task types</h1>');
    expect(html).toMatch(/payments<\/a>/);
    expect(html).toContain('customer:{customerId}/{address.country}');
    expect(html).toContain('Waiting tasks of unregistered names');
    expect(html).toContain('paymnets');
    await bare.close();
  });

  it('answers 400 UNKNOWN_TASK for an unregistered name in strict mode', async () => {
    const { createApp } = await import('../src/http/index.js');
    const { call } = await import('./support/http.js');
    const dbName = new URL(url).pathname.slice(1);
    await pool.query(`alter database ${dbName} set tandem.unregistered_tasks = 'reject'`);
    const strict = createTandem({ connectionString: url, logger: quietLogger });
    try {
      const app = createApp(strict);
      const refused = await call(app, 'POST', '/api/tasks', {
        json: { name: 'nobody-defines-this', payload: {} },
      });
      expect(refused.status).toBe(400);
      expect(refused.body.error).toMatchObject({
        code: 'UNKNOWN_TASK',
        message: expect.stringMatching(/no task named 'nobody-defines-this' is registered/),
      });
      const accepted = await call(app, 'POST', '/api/tasks', {
        json: { name: 'payments', payload: { orderId: 5 } },
      });
      expect(accepted.status).toBe(201);
    } finally {
      await strict.close();
      await pool.query(`alter database ${dbName} reset tandem.unregistered_tasks`);
    }
  });
});
