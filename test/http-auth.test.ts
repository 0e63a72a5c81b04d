/**
 * Who may call the API: bearer tokens, read-only mode, cross-origin
 * mutations, and what tandem.server() refuses to listen on.
 */
import { request } from 'node:http';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/http/index.js';
import { createTandem, type Tandem } from '../src/index.js';
import { freshDatabase } from './support/db.js';
import { call, fingerprint } from './support/http.js';
import { quietLogger } from './support/quiet-logger.js';

let pool: pg.Pool;
let tandem: Tandem;
let id: string;
const TOKEN = 'test-token-0123456789abcdef';
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

beforeAll(async () => {
  const url = await freshDatabase();
  pool = new pg.Pool({ connectionString: url, max: 2 });
  tandem = createTandem({ connectionString: url, logger: quietLogger });
  const { rows } = await pool.query(
    `insert into tandem.tasks (name, payload, state, finished_at) values ('add', '{"secret": 1}', 'failed', now()) returning id::text`,
  );
  id = rows[0].id;
});
afterAll(async () => {
  await tandem.close();
  await pool.end();
});

describe('bearer token', () => {
  it('401 without or with a wrong token on every route but /healthz', async () => {
    const app = createApp(tandem, { token: TOKEN });
    for (const path of [
      '/api/tasks',
      `/api/tasks/${id}`,
      '/api/queues',
      '/api/workers',
      '/api/schedules',
      '/api/stats',
      '/api/failures',
      '/api/operator-actions',
      '/api/relay',
      '/metrics',
      '/api/openapi.json',
    ]) {
      for (const headers of <Record<string, string>[]>[
        {},
        bearer('wrong-token-0123456789'),
        { authorization: `Basic ${btoa(`x:${TOKEN}`)}` },
        { authorization: TOKEN },
      ]) {
        const r = await call(app, 'GET', path, { headers });
        expect(r.status, `${path} ${JSON.stringify(headers)}`).toBe(401);
        expect(r.body.error.code).toBe('UNAUTHORIZED');
        expect(r.headers.get('www-authenticate')).toMatch(/^Bearer/);
      }
      expect((await call(app, 'GET', path, { headers: bearer(TOKEN) })).status, path).toBe(200);
    }
    expect((await call(app, 'GET', '/healthz')).status).toBe(200);
    const before = await fingerprint(pool);
    expect((await call(app, 'POST', `/api/tasks/${id}/retry`)).status).toBe(401);
    expect(
      (await call(app, 'POST', '/api/tasks', { json: { name: 'x', payload: {} } })).status,
    ).toBe(401);
    expect(await fingerprint(pool)).toBe(before);
  });

  it('reads TANDEM_API_TOKEN, and records the label of the token used as the actor', async () => {
    process.env.TANDEM_API_TOKEN = TOKEN;
    try {
      expect((await call(createApp(tandem), 'GET', '/api/queues')).status).toBe(401);
    } finally {
      delete process.env.TANDEM_API_TOKEN;
    }
    const app = createApp(tandem, {
      tokens: { alice: 'alice-token-0123456789', bob: 'bob-token-0123456789ab' },
    });
    const r = await call(app, 'POST', `/api/tasks/${id}/retry`, {
      headers: bearer('bob-token-0123456789ab'),
    });
    expect(r.status).toBe(200);
    const { rows } = await pool.query(
      `select actor, action, affected from tandem.operator_actions where task_ids @> array[$1::bigint]`,
      [id],
    );
    expect(rows).toEqual([{ actor: 'bob', action: 'retry', affected: 1 }]);
    expect(() => createApp(tandem, { token: 'short' })).toThrow(/16-4096 printable characters/);
  });

  it('readOnly: every mutation is 403 and writes nothing; reads work', async () => {
    const app = createApp(tandem, { readOnly: true });
    const before = await fingerprint(pool);
    for (const [method, path, json] of [
      ['POST', `/api/tasks/${id}/retry`],
      ['POST', `/api/tasks/${id}/cancel`],
      ['DELETE', `/api/tasks/${id}`],
      ['POST', '/api/tasks', { name: 'x', payload: {} }],
      ['POST', '/api/tasks/bulk', { action: 'delete', ids: [id] }],
      ['POST', '/api/queues/default/pause'],
      ['POST', '/api/queues/default/resume'],
    ] as const) {
      const r = await call(app, method, path, json ? { json } : {});
      expect(r.status, path).toBe(403);
      expect(r.body.error.code).toBe('READ_ONLY');
    }
    expect(await fingerprint(pool)).toBe(before);
    expect((await call(app, 'GET', `/api/tasks/${id}`)).status).toBe(200);
    // Authentication comes first: without the token it is a 401, not a 403.
    const locked = createApp(tandem, { readOnly: true, token: TOKEN });
    expect((await call(locked, 'POST', `/api/tasks/${id}/retry`)).status).toBe(401);
  });

  it('refuses mutations from another origin; same-origin ones pass', async () => {
    const app = createApp(tandem);
    const before = await fingerprint(pool);
    for (const headers of <Record<string, string>[]>[
      { origin: 'http://evil.example' },
      { origin: 'null' },
      { 'sec-fetch-site': 'cross-site' },
    ]) {
      const r = await call(app, 'POST', '/api/queues/default/pause', {
        headers: { host: 'localhost', ...headers },
      });
      expect(r.status).toBe(403);
      expect(r.body.error.code).toBe('CROSS_ORIGIN');
    }
    expect(await fingerprint(pool)).toBe(before);
    const ok = await call(app, 'POST', '/api/queues/default/pause', {
      headers: { host: 'localhost:8080', origin: 'http://localhost:8080' },
    });
    expect(ok.status).toBe(200);
  });
});

describe('tandem.server()', () => {
  it('refuses a non-loopback address without a token, and says why', async () => {
    await expect(tandem.server({ host: '0.0.0.0', port: 0 })).rejects.toThrow(
      /refusing to listen on 0\.0\.0\.0 without a token: anyone who can reach it/,
    );
    await expect(tandem.server({ host: '::', port: 0 })).rejects.toThrow(/without a token/);
    await expect(tandem.server({ port: 70_000 })).rejects.toThrow(/port must be/);
  });

  it('listens on 127.0.0.1 by default; without a token it answers only to loopback host names', async () => {
    const server = await tandem.server({ port: 0 });
    try {
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const res = await fetch(`${server.url}/api/tasks/${id}`);
      expect(res.status).toBe(200);
      expect(((await res.json()) as { payload: unknown }).payload).toEqual({ secret: 1 });
      // A page on a DNS name rebound to 127.0.0.1 sends its own name as Host (fetch cannot set Host).
      const rebound = await new Promise<number>((resolve, reject) =>
        request(
          {
            host: '127.0.0.1',
            port: server.port,
            path: '/api/queues',
            headers: { host: `evil.example:${server.port}` },
          },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        )
          .on('error', reject)
          .end(),
      );
      expect(rebound).toBe(403);
    } finally {
      await server.close();
    }
    const locked = await tandem.server({ port: 0, token: TOKEN });
    try {
      expect((await fetch(`${locked.url}/api/queues`)).status).toBe(401);
      const res = await fetch(`${locked.url}/api/queues`, { headers: bearer(TOKEN) });
      expect(res.status).toBe(200);
      expect((await fetch(`${locked.url}/healthz`)).status).toBe(200);
    } finally {
      await locked.close();
    }
  });
});
