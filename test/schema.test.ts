/**
 * Payload schemas from any Standard Schema validator: zod 4, valibot and
 * arktype here (zod 3 is type-checked by .ci/consumer), with inferred types,
 * validation before any SQL, and JSON Schema where the validator has one.
 */
import { type } from 'arktype';
import pg from 'pg';
import * as v from 'valibot';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { createTandem, defineTask, jsonSchemaOf, type PayloadOf, validate } from '../src/index.js';
import { drain } from '../src/testing/index.js';
import { freshDatabase } from './support/db.js';
import { quietLogger } from './support/quiet-logger.js';

const byZod = defineTask({
  name: 'by-zod',
  payload: z.object({ sku: z.string().min(1), qty: z.coerce.number().int() }),
  handler: (p) => p.qty * 2,
});
const byValibot = defineTask({
  name: 'by-valibot',
  payload: v.object({ sku: v.pipe(v.string(), v.minLength(1)), qty: v.number() }),
  handler: (p) => p.qty * 2,
});
const byArktype = defineTask({
  name: 'by-arktype',
  payload: type({ sku: 'string > 0', qty: 'number.integer' }),
  handler: (p) => p.qty * 2,
});

let pool: pg.Pool;
beforeAll(async () => {
  pool = new pg.Pool({ connectionString: await freshDatabase() });
});
afterAll(() => pool.end());

describe('Standard Schema payloads', () => {
  it('infers what enqueue takes and what the handler gets, from each validator', () => {
    expectTypeOf<PayloadOf<typeof byZod>>().toEqualTypeOf<{ sku: string; qty: unknown }>();
    expectTypeOf<Parameters<typeof byZod.handler>[0]>().toEqualTypeOf<{
      sku: string;
      qty: number;
    }>();
    expectTypeOf<PayloadOf<typeof byValibot>>().toEqualTypeOf<{ sku: string; qty: number }>();
    expectTypeOf<Parameters<typeof byArktype.handler>[0]>().toEqualTypeOf<{
      sku: string;
      qty: number;
    }>();
  });

  it('runs tasks of each validator, with the output of the schema (zod coerces)', async () => {
    const tandem = createTandem({
      pool,
      tasks: [byZod, byValibot, byArktype],
      logger: quietLogger,
    });
    await tandem.enqueue(pool, byZod, { sku: 'a', qty: '3' });
    await tandem.enqueue(pool, byValibot, { sku: 'b', qty: 4 });
    await tandem.enqueue(pool, byArktype, { sku: 'c', qty: 5 });
    const outcomes = await drain(tandem);
    expect(outcomes.map((o) => [o.name, o.state, o.result])).toEqual([
      ['by-zod', 'succeeded', 6],
      ['by-valibot', 'succeeded', 8],
      ['by-arktype', 'succeeded', 10],
    ]);
  });

  it('rejects a bad payload before any SQL, with the path and message of each issue', async () => {
    const tandem = createTandem({
      pool,
      tasks: [byZod, byValibot, byArktype],
      logger: quietLogger,
    });
    const client = await pool.connect();
    try {
      await client.query('begin');
      for (const task of [byZod, byValibot, byArktype]) {
        const err = await tandem
          .enqueue(client, task, { sku: '', qty: 1.5 } as never)
          .catch((e) => e);
        expect(err.code, task.name).toBe('INVALID_PAYLOAD');
        expect(
          err.details.map((i: { path: string }) => i.path),
          task.name,
        ).toContain('sku');
        expect(err.message).toMatch(
          new RegExp(`payload for task "${task.name}" is invalid: .*sku: `),
        );
      }
      // The transaction is still usable: nothing ran in it.
      expect((await client.query('select 1 as ok')).rows).toEqual([{ ok: 1 }]);
      await client.query('rollback');
    } finally {
      client.release();
    }
  });

  it('refuses a schema that is none, and an asynchronous one at validation', async () => {
    expect(() =>
      defineTask({
        name: 'not-a-schema',
        payload: { parse: () => ({}) } as never,
        handler: () => {},
      }),
    ).toThrow(/payload must be a schema: zod \(3\.24\+ or 4\), valibot, arktype/);
    const slow = z.object({ id: z.string() }).refine(async () => true);
    expect(validate(slow, { id: 'x' })).toEqual({
      ok: false,
      issues: [{ path: '(root)', message: expect.stringMatching(/validated asynchronously/) }],
    });
  });

  it('gives the JSON Schema where the validator can produce one', () => {
    expect(jsonSchemaOf(byZod.schema)).toMatchObject({
      type: 'object',
      properties: { sku: { type: 'string', minLength: 1 } },
      required: ['sku', 'qty'],
    });
    expect(jsonSchemaOf(byArktype.schema)).toMatchObject({
      type: 'object',
      properties: { sku: { type: 'string', minLength: 1 }, qty: { type: 'integer' } },
    });
    expect(jsonSchemaOf(byValibot.schema)).toBeNull();
  });
});
