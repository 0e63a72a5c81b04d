/**
 * Hostile input to both doors (TypeScript and SQL): every value PostgreSQL
 * would reject, or store as something else, is refused before any SQL runs,
 * with the path of the bad value, and the caller's transaction stays usable.
 */
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createTandem, defineTask, type Tandem, TandemError } from '../src/index.js';
import { freshDatabase } from './support/db.js';

const anything = defineTask({
  name: 'anything',
  payload: z.any(),
  handler: async () => {},
});
const dated = defineTask({
  name: 'dated',
  payload: z.object({ at: z.date() }),
  handler: async () => {},
});
const setOf = defineTask({
  name: 'set-of',
  payload: z.object({ tags: z.set(z.string()) }),
  handler: async () => {},
});

let pool: pg.Pool;
let db: Kysely<any>;
let tandem: Tandem;
const lone = '😀'.slice(0, 1);

beforeAll(async () => {
  const url = await freshDatabase();
  pool = new pg.Pool({ connectionString: url, max: 10 });
  db = new Kysely({ dialect: new PostgresDialect({ pool }) });
  tandem = createTandem({ pool, tasks: [anything, dated, setOf] });
  await pool.query('create table orders (id serial primary key, note text)');
});
afterAll(async () => {
  await tandem.close();
  await db.destroy();
});

const tasks = async () =>
  Number((await pool.query('select count(*)::int n from tandem.tasks')).rows[0].n);

/**
 * Runs `call` inside a transaction that then writes a business row and
 * commits: the call must throw a TandemError with `code` matching `message`,
 * and the business row must still commit.
 */
async function refusedInTransaction(
  call: (trx: unknown) => Promise<unknown>,
  code: string,
  message: RegExp,
): Promise<void> {
  const before = await tasks();
  const note = `after-${Math.random()}`;
  await db.transaction().execute(async (trx) => {
    const err = await call(trx).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err, 'the call should have been refused').toBeInstanceOf(TandemError);
    expect((err as TandemError).code).toBe(code);
    expect((err as TandemError).message).toMatch(message);
    await trx.insertInto('orders').values({ note }).execute();
  });
  expect((await pool.query('select 1 from orders where note = $1', [note])).rowCount).toBe(1);
  expect(await tasks()).toBe(before);
}

describe('strings PostgreSQL cannot store', () => {
  const cases: [string, unknown, Record<string, unknown>, string, RegExp][] = [
    [
      'U+0000 in a payload value',
      { a: { b: 'x\u0000' } },
      {},
      'PAYLOAD_NOT_JSON',
      /U\+0000 at a\.b/,
    ],
    [
      'a lone surrogate in a payload value',
      { list: ['ok', `x${lone}`] },
      {},
      'PAYLOAD_NOT_JSON',
      /lone surrogate at list\.1/,
    ],
    ['U+0000 in a payload key', { 'k\u0000': 1 }, {}, 'PAYLOAD_NOT_JSON', /U\+0000 in a key at/],
    [
      'a lone surrogate in a payload key',
      { [`k${lone}`]: 1 },
      {},
      'PAYLOAD_NOT_JSON',
      /lone surrogate in a key/,
    ],
    [
      'U+0000 in metadata',
      {},
      { metadata: { trace: 'a\u0000' } },
      'INVALID_OPTIONS',
      /U\+0000 at trace/,
    ],
    [
      'a lone surrogate in the key',
      {},
      { key: `order:${lone}` },
      'INVALID_OPTIONS',
      /key .*lone surrogate/,
    ],
    ['U+0000 in the key', {}, { key: 'order:\u0000' }, 'INVALID_OPTIONS', /key .*U\+0000/],
    ['a Map', { m: new Map([['a', 1]]) }, {}, 'PAYLOAD_NOT_JSON', /a Map at m/],
    ['a Set', { s: new Set([1]) }, {}, 'PAYLOAD_NOT_JSON', /a Set at s/],
    ['an invalid Date', { d: new Date('nope') }, {}, 'PAYLOAD_NOT_JSON', /invalid Date at d/],
  ];
  for (const [label, payload, options, code, message] of cases) {
    it(`refuses ${label}`, async () => {
      await refusedInTransaction(
        (trx) => tandem.enqueue(trx, anything, payload, options as never),
        code,
        message,
      );
    });
  }

  it('refuses the whole batch for one bad item of enqueueMany, naming the item', async () => {
    await refusedInTransaction(
      (trx) =>
        tandem.enqueueMany(trx, [
          { task: anything, payload: { ok: 1 } },
          { task: anything, payload: { bad: 'x\u0000' } },
        ]),
      'PAYLOAD_NOT_JSON',
      /item 1\b.*U\+0000 at bad/,
    );
  });

  it('keeps keys that differ only in a lone surrogate apart (by refusing the lone one)', async () => {
    await refusedInTransaction(
      (trx) => tandem.enqueue(trx, anything, {}, { key: 'a\udbff' }),
      'INVALID_OPTIONS',
      /lone surrogate/,
    );
    const r = await tandem.enqueue(pool, anything, {}, { key: 'a\ufffd' });
    expect(r.inserted).toBe(true);
  });
});

describe('values out of range', () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['maxAttempts 2**31', { maxAttempts: 2 ** 31 }, /maxAttempts must be an integer from 1 to/],
    ['maxAttempts 1e21', { maxAttempts: 1e21 }, /maxAttempts must be an integer from 1 to/],
    ['delay 1e20', { delay: 1e20 }, /delay must be at most/],
    ['delay Number.MAX_VALUE', { delay: Number.MAX_VALUE }, /delay must be at most/],
    ["delay '999999y'", { delay: '999999y' }, /delay must be at most/],
    [
      "delay ''",
      { delay: '' },
      /delay must be a non-negative number of milliseconds or a string like/,
    ],
    [
      'runAt in year 10000',
      { runAt: new Date('+010000-01-01T00:00:00Z') },
      /runAt must be between/,
    ],
    ['runAt in year 0', { runAt: new Date('0000-01-01T00:00:00Z') }, /runAt must be between/],
    [
      'priority 2**31',
      { priority: 2 ** 31 },
      /priority must be an integer from -2147483648 to 2147483647/,
    ],
  ];
  for (const [label, options, message] of cases) {
    it(`refuses ${label}`, async () => {
      await refusedInTransaction(
        (trx) => tandem.enqueue(trx, anything, {}, options as never),
        'INVALID_OPTIONS',
        message,
      );
    });
  }

  it('accepts the whole int4 range of priorities', async () => {
    const low = await tandem.enqueue(pool, anything, {}, { priority: -(2 ** 31) });
    const high = await tandem.enqueue(pool, anything, {}, { priority: 2 ** 31 - 1 });
    expect((await tandem.getTask(low.id))?.priority).toBe(-(2 ** 31));
    expect((await tandem.getTask(high.id))?.priority).toBe(2 ** 31 - 1);
  });

  it('refuses definitions that every enqueue would then fail on', () => {
    const define = (extra: Record<string, unknown>) => () =>
      defineTask({ name: 'x', payload: z.object({}), handler: () => {}, ...extra });
    expect(define({ priority: 2 ** 40 })).toThrow(/priority must be an integer from/);
    expect(define({ timeout: '30d' })).toThrow(/timeout must be at most/);
    expect(define({ maxAttempts: 2 ** 31 })).toThrow(/maxAttempts must be an integer from 1 to/);
    expect(define({ backoff: { base: '999999y' } })).toThrow(/backoff.base must be at most/);
    expect(define({ backoff: { max: 1e20 } })).toThrow(/backoff.max must be at most/);
  });

  it('refuses a null item and a non-object item of enqueueMany with a clear error', async () => {
    await refusedInTransaction(
      (trx) => tandem.enqueueMany(trx, [null as never]),
      'INVALID_OPTIONS',
      /item 0 .*must be an object like \{ task, payload, options \}/,
    );
  });
});

describe('the payload is checked in the form the handler receives', () => {
  it('refuses a payload that passes the schema as a value but not as JSON (z.date)', async () => {
    await refusedInTransaction(
      (trx) => tandem.enqueue(trx, dated, { at: new Date() }),
      'INVALID_PAYLOAD',
      /as stored \(JSON\).*at: /,
    );
  });

  it('refuses a Set even when the schema accepts it', async () => {
    await refusedInTransaction(
      (trx) => tandem.enqueue(trx, setOf, { tags: new Set(['a']) }),
      'PAYLOAD_NOT_JSON',
      /a Set at tags/,
    );
  });
});

describe('the SQL door keeps the same rules', () => {
  const cases: [string, string, RegExp][] = [
    [
      'a name with a newline',
      `select tandem.enqueue(e'bad\\nname', '{}')`,
      /name must be 1-200 characters/,
    ],
    [
      'a queue with a space',
      `select tandem.enqueue('anything', '{}', queue => 'a b')`,
      /queue must be 1-200 characters/,
    ],
    [
      'an empty key',
      `select tandem.enqueue('anything', '{}', key => '')`,
      /key must be 1-500 characters/,
    ],
    [
      'run_at infinity',
      `select tandem.enqueue('anything', '{}', run_at => 'infinity')`,
      /run_at must be a finite time/,
    ],
    [
      'max_attempts above the limit',
      `select tandem.enqueue('anything', '{}', max_attempts => 2000000)`,
      /max_attempts must be from 1 to 1000000/,
    ],
  ];
  for (const [label, statement, message] of cases) {
    it(`refuses ${label}`, async () => {
      const before = await tasks();
      await expect(pool.query(statement)).rejects.toThrow(message);
      expect(await tasks()).toBe(before);
    });
  }
});
