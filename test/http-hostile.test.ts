/**
 * Hostile input: every bad request gets a 4xx with the error body, never a
 * 500, and writes nothing (the tables' fingerprint is unchanged).
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createApp } from '../src/http/index.js';
import { createTandem, defineTask, type Tandem } from '../src/index.js';
import { freshDatabase } from './support/db.js';
import { call, fingerprint, type Reply } from './support/http.js';
import { quietLogger } from './support/quiet-logger.js';

let pool: pg.Pool;
let tandem: Tandem;
let app: ReturnType<typeof createApp>;
let failedId: string;

const add = defineTask({
  name: 'add',
  payload: z.object({ a: z.number(), b: z.number() }),
  handler: (p) => p.a + p.b,
});

beforeAll(async () => {
  const url = await freshDatabase();
  pool = new pg.Pool({ connectionString: url, max: 2 });
  tandem = createTandem({ connectionString: url, tasks: [add], logger: quietLogger });
  app = createApp(tandem);
  const { rows } = await pool.query(
    `insert into tandem.tasks (name, payload, key, state, finished_at) values
       ('add', '{"a":1,"b":2}', 'order:1', 'failed', now()), ('add', '{"a":3,"b":4}', null, 'queued', null)
     returning id::text`,
  );
  failedId = rows[0].id;
});
afterAll(async () => {
  await tandem.close();
  await pool.end();
});

/** Sends the request and checks: a 4xx, the error body with a code and a message, nothing written. */
async function refused(
  method: string,
  path: string,
  options: Parameters<typeof call>[3] = {},
  expected?: number,
): Promise<Reply> {
  const before = await fingerprint(pool);
  const r = await call(app, method, path, options);
  const what = `${method} ${path} ${options.body ?? JSON.stringify(options.json) ?? ''}`.slice(
    0,
    200,
  );
  expect(r.status, `${what} → ${r.status} ${r.text.slice(0, 300)}`).toBeGreaterThanOrEqual(400);
  expect(r.status, what).toBeLessThan(500);
  if (expected) expect(r.status, what).toBe(expected);
  expect(r.body?.error?.code, what).toMatch(/^[A-Z_]+$/);
  expect(typeof r.body.error.message, what).toBe('string');
  expect(await fingerprint(pool), `${what} wrote something`).toBe(before);
  return r;
}

const SQLISH = [
  "'; drop table tandem.tasks; --",
  "1' or '1'='1",
  '%',
  '_',
  '\\',
  'a\u0000b',
  '$1',
  "') union select * from pg_user --",
];

describe('hostile input', () => {
  it('malformed JSON, non-object bodies and unknown fields: 400', async () => {
    for (const body of ['{', '{"name":', '{"name":"add",}', 'nul', "{'name':'add'}", '\u0000']) {
      const r = await refused(
        'POST',
        '/api/tasks',
        { body, headers: { 'content-type': 'application/json' } },
        400,
      );
      expect(r.body.error.code).toBe('MALFORMED_JSON');
    }
    for (const json of [null, [], 'add', 42, { name: 'add', payload: {}, extra: 1 }])
      await refused('POST', '/api/tasks', { json }, 400);
    await refused(
      'POST',
      '/api/tasks/bulk',
      { body: '{"action":', headers: { 'content-type': 'application/json' } },
      400,
    );
  });

  it('bodies over 1 MiB: 413, with or without Content-Length', async () => {
    const big = JSON.stringify({ name: 'add', payload: { s: 'x'.repeat(1_100_000) } });
    const r = await refused(
      'POST',
      '/api/tasks',
      { body: big, headers: { 'content-type': 'application/json' } },
      413,
    );
    expect(r.body.error.code).toBe('BODY_TOO_LARGE');
    const stream = new ReadableStream({
      start(c) {
        for (let i = 0; i < 12; i++) c.enqueue(new TextEncoder().encode('x'.repeat(100_000)));
        c.close();
      },
    });
    const before = await fingerprint(pool);
    const res = await app.request('/api/tasks', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(413);
    expect(await fingerprint(pool)).toBe(before);
    // Within the body limit but over the payload limit (256 KiB).
    const payload = await refused(
      'POST',
      '/api/tasks',
      { json: { name: 'other', payload: { s: 'x'.repeat(300_000) } } },
      413,
    );
    expect(payload.body.error.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('wrong content types: 415', async () => {
    for (const type of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/xml',
    ]) {
      await refused(
        'POST',
        '/api/tasks',
        { body: '{"name":"add","payload":{}}', headers: { 'content-type': type } },
        415,
      );
      await refused(
        'POST',
        '/api/tasks/bulk',
        { body: '{"action":"delete","ids":["1"]}', headers: { 'content-type': type } },
        415,
      );
    }
    await refused('POST', '/api/tasks', { body: '{"name":"add","payload":{}}' }, 415);
  });

  it('wrong types and values in the enqueue body: 400', async () => {
    for (const json of [
      { name: 123, payload: {} },
      { name: 'add' },
      { name: 'add', payload: { a: 1, b: 'two' } },
      { name: "x'; drop table tandem.tasks; --", payload: {} },
      { name: 'other', payload: {}, priority: 'high' },
      { name: 'other', payload: {}, priority: 1.5 },
      { name: 'other', payload: {}, priority: 2 ** 40 },
      { name: 'other', payload: {}, max_attempts: 0 },
      { name: 'other', payload: {}, delay: -1 },
      { name: 'other', payload: {}, delay: 'soon' },
      { name: 'other', payload: {}, run_at: 'tomorrow' },
      { name: 'other', payload: {}, run_at: '2026-01-01T00:00:00Z', delay: '1s' },
      { name: 'other', payload: {}, queue: 'a b' },
      { name: 'other', payload: {}, key: '' },
      { name: 'other', payload: {}, key: 'k'.repeat(501) },
      { name: 'other', payload: { s: 'a\u0000b' } },
      { name: 'other', payload: {}, key: 'a\u0000b' },
      { name: 'other', payload: {}, metadata: [1] },
    ])
      await refused('POST', '/api/tasks', { json }, 400);
  });

  it('SQL-looking text in every filter: 400, or 200 with no task and nothing written', async () => {
    const filters = [
      'status',
      'name',
      'queue',
      'key',
      'key_prefix',
      'payload',
      'error',
      'last_error',
      'created_after',
      'finished_before',
      'limit',
      'cursor',
    ];
    for (const f of filters) {
      for (const s of SQLISH) {
        const before = await fingerprint(pool);
        const r = await call(app, 'GET', `/api/tasks?${f}=${encodeURIComponent(s)}`);
        const what = `${f}=${JSON.stringify(s)} → ${r.status} ${r.text.slice(0, 200)}`;
        if (r.status === 200) {
          // Free-text filters (keys, error text) may contain anything; names
          // and queues only their own characters (`_` and `%` are not wildcards).
          if (!['key', 'key_prefix', 'error', 'last_error'].includes(f))
            expect(s, what).toMatch(/^[A-Za-z0-9_.:\-/]+$/);
          expect(r.body.tasks, what).toEqual([]);
        } else {
          expect(r.status, what).toBe(400);
          expect(r.body.error.code, what).toMatch(/^INVALID_/);
        }
        expect(await fingerprint(pool), what).toBe(before);
      }
    }
    for (const s of SQLISH) {
      const label = /^[A-Za-z0-9_.:\-/]+$/.test(s);
      if (!label)
        await refused(
          'POST',
          '/api/tasks/bulk',
          { json: { action: 'delete', filter: { name: s } } },
          400,
        );
      const r = await call(app, 'POST', '/api/tasks/bulk', {
        json: { action: 'delete', filter: { key: s } },
      });
      if (r.status === 200) expect(r.body.affected).toBe(0);
      else expect(r.status).toBe(400);
      if (!label) await refused('GET', `/api/failures?name=${encodeURIComponent(s)}`, {}, 400);
      if (!label) await refused('POST', `/api/queues/${encodeURIComponent(s)}/pause`, {}, 400);
    }
    expect((await pool.query('select count(*)::int as n from tandem.tasks')).rows[0].n).toBe(2);
  });

  it('invalid ids in every route: 400 INVALID_ID', async () => {
    for (const id of [
      'abc',
      '-1',
      '1e3',
      '0',
      '01',
      '1.5',
      '0x10',
      '+1',
      ' 1',
      '12345678901234567890',
      '9223372036854775808',
      '1;drop',
      '%00',
    ]) {
      const p = encodeURIComponent(id).replace(/%2520/g, '%20');
      for (const [method, path] of [
        ['GET', `/api/tasks/${p}`],
        ['POST', `/api/tasks/${p}/retry`],
        ['POST', `/api/tasks/${p}/cancel`],
        ['DELETE', `/api/tasks/${p}`],
      ] as const) {
        const r = await refused(method, path, {}, 400);
        expect(r.body.error.code, `${method} ${path}`).toBe('INVALID_ID');
      }
    }
    await refused('GET', '/api/operator-actions?task_id=-1', {}, 400);
    for (const ids of [
      ['abc'],
      ['-1'],
      ['1e3'],
      ['99999999999999999999'],
      [],
      Array(10_001).fill('1'),
      [1],
    ])
      await refused('POST', '/api/tasks/bulk', { json: { action: 'retry', ids } }, 400);
  });

  it('invalid cursors, limits and query values: 400', async () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64url');
    for (const cursor of [
      'abc',
      b64('t1:-1'),
      b64('t1:0'),
      b64('t1:1e3'),
      b64('x'),
      b64('t1:99999999999999999999'),
      'a'.repeat(101),
      '%ZZ',
      '==',
    ])
      expect(
        (await refused('GET', `/api/tasks?cursor=${encodeURIComponent(cursor)}`, {}, 400)).body
          .error.code,
      ).toMatch(/INVALID_(CURSOR|REQUEST)/);
    await refused('GET', `/api/operator-actions?cursor=${b64('x')}`, {}, 400);
    for (const q of [
      'limit=0',
      'limit=501',
      'limit=-1',
      'limit=ten',
      'limit=1e2',
      'status=bogus',
      'status=failed,,queued',
      'status=',
      'name=a&name=b',
      'nosuch=1',
      'payload=%7Bbad',
      'payload=42',
      'created_after=yesterday',
      'created_after=2026-13-45T00:00:00Z',
    ])
      await refused('GET', `/api/tasks?${q}`, {}, 400);
    for (const q of ['wait=forever', 'wait=61s', 'wait=-1s', 'wait=1h'])
      await refused('GET', `/api/tasks/${failedId}?${q}`, {}, 400);
    for (const q of [
      'window=abc',
      'step=30s',
      'window=1y',
      'window=90m&step=1h',
      'window=3d',
      'x=1',
    ])
      await refused('GET', `/api/stats?${q}`, {}, 400);
    await refused('GET', '/api/failures?limit=0', {}, 400);
  });

  it('bad bulk requests: 400', async () => {
    for (const json of [
      { action: 'drop', ids: ['1'] },
      { action: 'retry' },
      { action: 'retry', filter: {} },
      { action: 'retry', filter: { nosuch: 1 } },
      { action: 'retry', filter: { status: ['bogus'] } },
      { action: 'retry', filter: { status: [] } },
      { action: 'retry', filter: { payload: 'x' } },
      { action: 'retry', ids: ['1'], filter: { name: 'add' } },
      { action: 'retry', ids: ['1'], dry_run: 'yes' },
    ])
      await refused('POST', '/api/tasks/bulk', { json }, 400);
  });

  it('path tricks: 4xx, never a route they were not meant for', async () => {
    for (const path of [
      '/api/tasks/..%2F..%2Fqueues',
      '/api/tasks/%2e%2e',
      `/api/tasks/${failedId}%2Fretry`,
      '/api//tasks',
      '/api/tasks/1/retry/..',
      `/api/${'a'.repeat(10_000)}`,
      '/api/queues/a%00b/pause',
      '/API/TASKS',
    ])
      for (const method of ['GET', 'POST', 'DELETE']) await refused(method, path);
    // An encoded slash stays inside the parameter: it names a queue, it does not climb the path.
    const r = await call(app, 'POST', '/api/queues/..%2F..%2Fx/pause');
    expect(r.body).toEqual({ name: '../../x', paused: true });
    const { rows } = await pool.query('select name from tandem.queues');
    expect(rows).toEqual([{ name: '../../x' }]);
  });
});
