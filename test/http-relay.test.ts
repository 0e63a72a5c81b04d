/**
 * The relay's status over HTTP: GET /api/relay and the tandem_relay_*
 * gauges of /metrics, for a destination whose messages wait (no relay runs).
 */
import parse from 'parse-prometheus-text-format';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { z } from 'zod';
import { createApp } from '../src/http/index.js';
import { createTandem, defineDestination, redisStreams, type Tandem } from '../src/index.js';
import { freshDatabase } from './support/db.js';
import { call } from './support/http.js';
import { quietLogger } from './support/quiet-logger.js';

let pool: pg.Pool;
let tandem: Tandem;
const events = defineDestination({
  name: 'events',
  broker: redisStreams({ url: 'redis://127.0.0.1:6379' }),
  stream: 'events',
  payload: z.object({ n: z.number() }),
});

beforeAll(async () => {
  const url = await freshDatabase();
  pool = new pg.Pool({ connectionString: url, max: 2 });
  tandem = createTandem({ connectionString: url, logger: quietLogger });
  for (let n = 0; n < 3; n++) await tandem.publish(pool, events, { n });
  await pool.query(`update tandem.outbox set created_at = now() - interval '1 minute'`);
  await pool.query(
    `update tandem.outbox set attempts = 4, last_error = 'unroutable' where id = (select min(id) from tandem.outbox)`,
  );
});
afterAll(async () => {
  await tandem.close();
  await pool.end();
});

it('GET /api/relay shows the backlog, the oldest message and the failing head', async () => {
  const app = createApp(tandem);
  const r = await call(app, 'GET', '/api/relay');
  expect(r.status).toBe(200);
  expect(r.body.prefix).toMatch(/^tnd/);
  expect(r.body.destinations).toEqual([
    expect.objectContaining({
      destination: 'events',
      backlog: 3,
      oldest_age_seconds: expect.any(Number),
      head: expect.objectContaining({ attempts: 4, last_error: 'unroutable' }),
      holder: null,
      published: 0,
    }),
  ]);
  expect(r.body.destinations[0].oldest_age_seconds).toBeGreaterThanOrEqual(60);
  const doc = await call(app, 'GET', '/api/openapi.json');
  expect(Object.keys(doc.body.paths)).toContain('/api/relay');
});

it('/metrics has the relay gauges per destination', async () => {
  const r = await call(createApp(tandem), 'GET', '/metrics');
  const families = parse(r.text);
  const get = (name: string) =>
    Number(
      families.find((f) => f.name === name)?.metrics.find((m) => m.labels?.destination === 'events')
        ?.value,
    );
  expect(get('tandem_relay_backlog')).toBe(3);
  expect(get('tandem_relay_oldest_age_seconds')).toBeGreaterThanOrEqual(60);
  expect(get('tandem_relay_head_attempts')).toBe(4);
  expect(get('tandem_relay_held')).toBe(0);
  expect(get('tandem_relay_published_messages')).toBe(0);
});
