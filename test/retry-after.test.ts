/** Retry-After: an upstream's 429 defers the task by the server's delay, without consuming an attempt. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  createTandem,
  defineTask,
  RetryAfterError,
  retryAfterMs,
  SnoozeError,
} from '../src/index.js';
import { MAX_DELAY_MS } from '../src/limits.js';
import { freshDatabase } from './support/db.js';
import { quietLogger } from './support/quiet-logger.js';
import { waitFor } from './support/wait.js';

describe('retryAfterMs', () => {
  const now = Date.UTC(2026, 9, 21, 7, 28, 0);

  it('reads delay-seconds and HTTP-dates, from a value, Headers, a Response or a headers object', () => {
    expect(retryAfterMs('2', {}, now)).toBe(2_000);
    expect(retryAfterMs(' 120 ', {}, now)).toBe(120_000);
    expect(retryAfterMs(1.5, {}, now)).toBe(1_500);
    expect(retryAfterMs('Wed, 21 Oct 2026 07:28:30 GMT', {}, now)).toBe(30_000);
    expect(retryAfterMs(new Date(now + 5_000), {}, now)).toBe(5_000);
    expect(retryAfterMs(new Headers({ 'Retry-After': '3' }), {}, now)).toBe(3_000);
    expect(
      retryAfterMs(new Response(null, { status: 429, headers: { 'retry-after': '4' } }), {}, now),
    ).toBe(4_000);
    expect(retryAfterMs({ 'Retry-After': '5' }, {}, now)).toBe(5_000);
    expect(retryAfterMs({ 'retry-after': ['6', '7'] }, {}, now)).toBe(6_000);
  });

  it('falls back when the header is missing or unreadable (default one minute), and never goes negative or past max', () => {
    expect(retryAfterMs(undefined, {}, now)).toBe(60_000);
    expect(retryAfterMs(null, { fallback: '30s' }, now)).toBe(30_000);
    expect(retryAfterMs(new Response(null, { status: 429 }), { fallback: 1_000 }, now)).toBe(1_000);
    expect(retryAfterMs('soon', { fallback: '5s' }, now)).toBe(5_000);
    expect(retryAfterMs('-3', { fallback: '5s' }, now)).toBe(5_000);
    expect(retryAfterMs({ other: '1' }, { fallback: '5s' }, now)).toBe(5_000);
    expect(retryAfterMs('Wed, 21 Oct 2026 07:00:00 GMT', {}, now)).toBe(0);
    expect(retryAfterMs('86400', { max: '1h' }, now)).toBe(3_600_000);
    expect(retryAfterMs('999999999999', {}, now)).toBe(MAX_DELAY_MS);
    expect(() => retryAfterMs('1', { fallback: 'never' }, now)).toThrow(
      /retryAfter fallback must be a non-negative number of milliseconds/,
    );
  });

  it('RetryAfterError is a snooze of that delay', () => {
    const err = new RetryAfterError('2');
    expect(err).toBeInstanceOf(SnoozeError);
    expect(err).toMatchObject({ name: 'RetryAfterError', delayMs: 2_000 });
    expect(err.message).toBe('the server asked to retry after 2000 ms');
  });
});

describe('a handler hit by a 429', () => {
  let url: string;
  let pool: pg.Pool;
  let server: Server;
  let upstream: string;
  let hits = 0;

  beforeAll(async () => {
    url = await freshDatabase();
    pool = new pg.Pool({ connectionString: url });
    server = createServer((req, res) => {
      hits++;
      if (req.url === '/limited' && hits === 1) {
        res.writeHead(429, { 'Retry-After': '2' });
        res.end('slow down');
      } else {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"ok":true}');
      }
    });
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    upstream = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await pool.end();
    await new Promise((res) => server.close(res));
  });

  it('runs again about Retry-After seconds later, its attempt not consumed', async () => {
    const runs: { at: number; attempt: number }[] = [];
    const callApi = defineTask({
      name: 'call-api',
      payload: z.object({}),
      // One attempt only: had the 429 consumed it, the task would fail.
      maxAttempts: 1,
      async handler(_p, ctx) {
        runs.push({ at: Date.now(), attempt: ctx.attempt });
        const res = await fetch(`${upstream}/limited`, { signal: ctx.signal });
        if (res.status === 429) ctx.retryAfter(res, { fallback: '30s' });
        return res.json();
      },
    });
    const tandem = createTandem({ pool, tasks: [callApi], logger: quietLogger });
    const worker = tandem.worker({ pollInterval: 50 });
    await worker.start();
    try {
      const { id } = await tandem.enqueue(pool, callApi, {});
      await waitFor(() => runs.length === 1, 5_000, 'the first run');
      const row = await waitFor(async () => {
        const r = (await pool.query('select * from tandem.tasks where id = $1', [id])).rows[0];
        return r.state !== 'running' && r;
      });
      expect(row.attempt).toBe(0);
      expect(row.errors).toEqual([]);
      const deferredBy = row.run_at.getTime() - runs[0]!.at;
      expect(deferredBy).toBeGreaterThan(1_800);
      expect(deferredBy).toBeLessThan(2_600);
      const done = await tandem.waitFor(id, { timeout: '10s' });
      expect(done.state).toBe('succeeded');
      expect(done.result).toEqual({ ok: true });
      expect(done.attempt).toBe(1);
      expect(runs.map((r) => r.attempt)).toEqual([1, 1]);
      expect(runs[1]!.at - runs[0]!.at).toBeGreaterThanOrEqual(1_900);
    } finally {
      await worker.stop();
      await tandem.close();
    }
  });
});
