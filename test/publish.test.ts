/**
 * Publishing into the outbox inside the caller's transaction (no broker
 * needed): the message commits and rolls back with the transaction, every
 * executor works, and bad input is refused before any SQL runs.
 */
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  createTandem,
  defineDestination,
  jetstream,
  rabbitmq,
  redisStreams,
  type Tandem,
  TandemError,
} from '../src/index.js';
import { importBrokerClient } from '../src/relay/broker.js';
import { freshDatabase } from './support/db.js';

const rabbit = rabbitmq({ url: 'amqp://guest:guest@127.0.0.1:5672' });
const orderEvents = defineDestination({
  name: 'order-events',
  broker: rabbit,
  exchange: 'orders',
  routingKey: (e) => `order.${e.status}`,
  payload: z.object({ orderId: z.number().int(), status: z.enum(['created', 'paid']) }),
});
const audit = defineDestination({
  name: 'audit',
  broker: jetstream({ servers: 'nats://127.0.0.1:4222' }),
  subject: 'audit.events',
  payload: z.object({ at: z.string() }),
});

let pool: pg.Pool;
let db: Kysely<any>;
let tandem: Tandem;

beforeAll(async () => {
  const url = await freshDatabase();
  pool = new pg.Pool({ connectionString: url, max: 10 });
  db = new Kysely({ dialect: new PostgresDialect({ pool }) });
  tandem = createTandem({ pool, maxPayloadBytes: 1024 });
  await pool.query('create table orders (id serial primary key, cents integer not null)');
});
afterAll(async () => {
  await tandem.close();
  await db.destroy();
});

const messages = async () =>
  (
    await pool.query(
      'select o.id::text, o.destination, o.key, o.route, o.payload, o.headers from tandem.outbox o order by o.id',
    )
  ).rows;

describe('publish', () => {
  it('commits with a Kysely transaction and leaves nothing on rollback', async () => {
    await pool.query('truncate tandem.outbox');
    const { id } = await db.transaction().execute(async (trx) => {
      const order = await trx
        .insertInto('orders')
        .values({ cents: 500 })
        .returning('id')
        .executeTakeFirstOrThrow();
      return tandem.publish(
        trx,
        orderEvents,
        { orderId: order.id, status: 'created' },
        { key: `order:${order.id}`, headers: { traceparent: '00-abc-def-01' } },
      );
    });
    await expect(
      db.transaction().execute(async (trx) => {
        await tandem.publish(trx, orderEvents, { orderId: 2, status: 'paid' });
        throw new Error('business rule failed');
      }),
    ).rejects.toThrow('business rule failed');
    const rows = await messages();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      id,
      destination: 'order-events',
      key: expect.stringMatching(/^order:\d+$/),
      route: 'order.created',
      payload: { orderId: expect.any(Number), status: 'created' },
      headers: { traceparent: '00-abc-def-01' },
    });
  });

  it('takes a pg PoolClient in its transaction, and a Pool (a transaction of its own)', async () => {
    await pool.query('truncate tandem.outbox');
    const c = await pool.connect();
    try {
      await c.query('begin');
      await tandem.publish(c, audit, { at: 'rolled back' });
      await c.query('rollback');
      await c.query('begin');
      await tandem.publish(c, audit, { at: 'committed' });
      await c.query('commit');
    } finally {
      c.release();
    }
    await tandem.publish(pool, audit, { at: 'pool' });
    expect((await messages()).map((m) => m.payload.at)).toEqual(['committed', 'pool']);
  });

  it('refuses bad input before any SQL runs, leaving the transaction usable', async () => {
    await pool.query('truncate tandem.outbox');
    const bad: [() => Promise<unknown>, string, RegExp][] = [
      [
        () => tandem.publish(c, orderEvents, { orderId: 1.5, status: 'created' }),
        'INVALID_PAYLOAD',
        /message for destination "order-events" is invalid: orderId/,
      ],
      [
        () => tandem.publish(c, orderEvents, { orderId: 1n, status: 'created' } as never),
        'PAYLOAD_NOT_JSON',
        /BigInt at orderId/,
      ],
      [
        () => tandem.publish(c, audit, { at: 'x'.repeat(2000) }),
        'PAYLOAD_TOO_LARGE',
        /over the 1024-byte limit/,
      ],
      [
        () => tandem.publish(c, audit, { at: 'x' }, { key: '' }),
        'INVALID_OPTIONS',
        /key must be a non-empty string/,
      ],
      [
        () => tandem.publish(c, audit, { at: 'x' }, { headers: { 'Nats-Msg-Id': '1' } }),
        'INVALID_OPTIONS',
        /header "Nats-Msg-Id" is reserved/,
      ],
      [
        () => tandem.publish(c, audit, { at: 'x' }, { headers: { a: 'b\r\nc' } }),
        'INVALID_OPTIONS',
        /without line breaks/,
      ],
      [
        () => tandem.publish(c, audit, { at: 'x' }, { headers: { a: 1 as never } }),
        'INVALID_OPTIONS',
        /header "a" must be a string/,
      ],
      [
        () => tandem.publish(c, audit, { at: 'x' }, { delay: '1s' } as never),
        'INVALID_OPTIONS',
        /unknown option "delay"; known options: key, headers/,
      ],
      [
        () => tandem.publish(c, { name: 'nope' } as unknown as typeof audit, { at: 'x' }),
        'INVALID_OPTIONS',
        /publish needs a destination made by defineDestination/,
      ],
    ];
    const c = await pool.connect();
    try {
      await c.query('begin');
      for (const [call, code, message] of bad) {
        const err = await call().then(
          () => null,
          (e) => e,
        );
        expect(err, String(message)).toBeInstanceOf(TandemError);
        expect(err.code).toBe(code);
        expect(err.message).toMatch(message);
      }
      await tandem.publish(c, audit, { at: 'still usable' });
      await c.query('commit');
    } finally {
      c.release();
    }
    expect((await messages()).map((m) => m.payload.at)).toEqual(['still usable']);
  });

  it('refuses a route function that throws or returns a subject NATS cannot take', async () => {
    const bySubject = defineDestination({
      name: 'by-subject',
      broker: jetstream({ servers: 'nats://127.0.0.1:4222' }),
      subject: (m: { region: string }) => {
        if (m.region === 'boom') throw new Error('no region');
        return `orders.${m.region}`;
      },
      payload: z.object({ region: z.string() }),
    });
    await expect(tandem.publish(pool, bySubject, { region: 'boom' })).rejects.toThrow(
      /its route function threw: no region/,
    );
    await expect(tandem.publish(pool, bySubject, { region: 'eu.*' })).rejects.toThrow(
      /returned "orders.eu.\*", which must be a NATS subject/,
    );
    await tandem.publish(pool, bySubject, { region: 'eu' });
    expect((await messages()).at(-1)).toMatchObject({ route: 'orders.eu' });
  });
});

describe('SQL publish', () => {
  it('publishes in the caller transaction with the same rules as TypeScript', async () => {
    await pool.query('truncate tandem.outbox');
    const { rows } = await pool.query(
      `select tandem.publish('order-events', '{"orderId":7,"status":"paid"}', key => 'order:7',
                             headers => '{"traceparent":"00-x-y-01"}') as id`,
    );
    expect(rows[0].id).toMatch(/^\d+$/);
    expect(await messages()).toMatchObject([
      { destination: 'order-events', key: 'order:7', payload: { orderId: 7, status: 'paid' } },
    ]);
    await expect(pool.query(`select tandem.publish('bad name!', '{}')`)).rejects.toThrow(
      /destination must be 1-200 characters/,
    );
    await expect(
      pool.query(`select tandem.publish('x', '{}', headers => '{"a": 1}')`),
    ).rejects.toThrow(/headers must be a JSON object of string values/);
    await expect(pool.query(`select tandem.publish('x', null)`)).rejects.toThrow(
      /destination and payload are required/,
    );
  });
});

describe('relayStatus', () => {
  it('shows the backlog, the age of the oldest message and the head of each destination', async () => {
    await pool.query('truncate tandem.outbox');
    await tandem.publish(pool, audit, { at: 'first' });
    await tandem.publish(pool, audit, { at: 'second' });
    await tandem.publish(pool, orderEvents, { orderId: 1, status: 'created' });
    await pool.query(`update tandem.outbox set created_at = now() - interval '90 seconds'
                       where payload->>'at' = 'first'`);
    const status = await tandem.relayStatus();
    expect(status.prefix).toMatch(/^tnd[0-9a-f]{10}$/);
    const byName = Object.fromEntries(status.destinations.map((d) => [d.destination, d]));
    expect(byName.audit).toMatchObject({ backlog: 2, holder: null, published: 0 });
    expect(byName.audit!.oldestAgeSeconds).toBeGreaterThanOrEqual(90);
    expect(byName['order-events']).toMatchObject({ backlog: 1 });
  });
});

describe('definitions', () => {
  it('defineDestination and the broker helpers refuse what cannot work, saying what to do', () => {
    const payload = z.object({});
    expect(() =>
      defineDestination({ name: 'bad name', broker: rabbit, exchange: 'x', payload }),
    ).toThrow(/name must be 1-200 characters/);
    expect(() =>
      defineDestination({ name: 'x', broker: rabbit, exchange: 'has space', payload }),
    ).toThrow(/exchange must be an exchange name/);
    expect(() =>
      defineDestination({
        name: 'x',
        broker: jetstream({ servers: 'nats://h:4222' }),
        subject: 'orders.>',
        payload,
      }),
    ).toThrow(/subject must be a NATS subject .* or a function/);
    expect(() =>
      defineDestination({ name: 'x', broker: {} as never, exchange: 'x', payload } as never),
    ).toThrow(/broker must be made by rabbitmq\(\), jetstream\(\) or redisStreams\(\)/);
    expect(() => rabbitmq({ url: 'http://x' })).toThrow(/url must be a amqp:\/\/ or amqps:\/\//);
    expect(() => redisStreams({ url: 'nope' })).toThrow(/redis:\/\/ or rediss:\/\//);
    expect(() => jetstream({ servers: [] })).toThrow(/servers must be a server address/);
    expect(() =>
      defineDestination({
        name: 'x',
        broker: redisStreams({ url: 'redis://h' }),
        stream: 's',
        maxLen: 0,
        payload,
      }),
    ).toThrow(/maxLen must be a positive integer/);
  });

  it('relay options are checked when the relay is made', () => {
    expect(() => tandem.relay({ destinations: [] })).toThrow(/non-empty array/);
    expect(() => tandem.relay({ destinations: [audit, audit] })).toThrow(/"audit" is given twice/);
    expect(() => tandem.relay({ destinations: [audit], batchSize: 0 })).toThrow(
      /batchSize must be an integer from 1 to 10000/,
    );
    expect(() => tandem.relay({ destinations: [audit], pollInterval: 'soon' })).toThrow(
      /pollInterval/,
    );
  });

  it('a broker client that is not installed is named, with the command that installs it', async () => {
    const err = (await importBrokerClient('tandem-no-such-broker-client', 'the relay to X').catch(
      (e: unknown) => e,
    )) as TandemError;
    expect(err).toBeInstanceOf(TandemError);
    expect(err.code).toBe('MISSING_DEPENDENCY');
    expect(err.message).toBe(
      'the relay to X needs the tandem-no-such-broker-client package, which is not installed: npm install tandem-no-such-broker-client',
    );
  });
});
