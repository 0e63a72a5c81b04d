/**
 * Changes through the dashboard, in process against a real PostgreSQL:
 * retry, bulk preview and run, pause and resume, all in the operator log;
 * the cross-origin and read-only guards; sign-in with a session cookie.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApp } from '../src/http/index.js';
import { createTandem, type Tandem } from '../src/index.js';
import { charge, get, ORIGIN, type Page, post, seedDashboard } from './support/dashboard.js';
import { freshDatabase } from './support/db.js';
import { fingerprint } from './support/http.js';
import { quietLogger } from './support/quiet-logger.js';

let pool: pg.Pool;
let tandem: Tandem;
let ids: Record<string, string>;

beforeAll(async () => {
  const url = await freshDatabase();
  pool = new pg.Pool({ connectionString: url, max: 3 });
  tandem = createTandem({ connectionString: url, tasks: [charge], logger: quietLogger });
  ids = await seedDashboard(pool);
});
afterAll(async () => {
  await tandem.close();
  await pool.end();
});
const TOKEN = 'dashboard-token-0123456789';

describe('actions', () => {
  it('retry, bulk preview and bulk run, pause and resume: recorded in the operator log', async () => {
    const a = createApp(tandem);
    const retried = await post(a, `/tasks/${ids.failed0}/retry`, {});
    expect(retried.status).toBe(200);
    expect(retried.text).toContain(`Task ${ids.failed0} is queued again: attempt 4 of 4.`);
    expect(retried.headers.get('hx-trigger')).toBe('tandem:tick');
    const again = await post(
      a,
      `/tasks/${ids.queued}/retry`,
      {},
      { origin: ORIGIN, 'hx-request': 'true' },
    );
    expect(again.status).toBe(409);
    expect(again.headers.get('hx-retarget')).toBe('#flash');
    expect(again.text).toContain('only failed, cancelled or succeeded tasks can be retried');

    const group = {
      do: 'retry:filter',
      status: 'failed',
      name: 'charge',
      last_error: 'card declined',
    };
    const preview = await post(a, '/bulk/preview', group);
    expect(preview.text).toContain('Retry 2 tasks?');
    expect(await stateOf(ids.failed1)).toBe('failed');
    const run = await post(a, '/bulk', group);
    expect(run.text).toContain('Retried 2 tasks.');
    expect(await stateOf(ids.failed1)).toBe('queued');
    expect(await stateOf(ids.failed2)).toBe('queued');

    const selected = await post(a, '/bulk/preview', {
      do: 'cancel:selected',
      ids: [ids.queued!, ids.done!],
    });
    expect(selected.text).toContain('Cancel 1 task?');
    expect((await post(a, '/bulk/preview', { do: 'retry:selected' })).text).toContain(
      'no task is selected',
    );
    expect((await post(a, '/bulk/preview', { do: 'delete:filter' })).status).toBe(400);

    expect((await post(a, '/queues/pause', { name: 'emails' })).text).toContain(
      'Queue emails is paused.',
    );
    expect((await get(a, '/queues')).text).toContain('Resume queue emails');
    await post(a, '/queues/resume', { name: 'emails' });
    const { rows } = await pool.query(
      `select actor, action, affected, target from tandem.operator_actions order by id`,
    );
    expect(rows.map((r) => [r.actor, r.action, r.affected])).toEqual([
      ['anonymous', 'retry', 1],
      ['anonymous', 'bulk-retry', 2],
      ['anonymous', 'pause', 1],
      ['anonymous', 'resume', 1],
    ]);
    expect(rows[1].target).toEqual({
      filter: { status: ['failed'], name: 'charge', last_error: 'card declined' },
    });
    expect((await get(a, '/log')).text).toContain('bulk-retry');
  });

  it('refuses a change from another origin, or with no origin at all, and changes nothing', async () => {
    const a = createApp(tandem);
    const before = await fingerprint(pool);
    for (const headers of <Record<string, string>[]>[
      { origin: 'http://evil.example' },
      { origin: 'http://localhost:9999' },
      { 'sec-fetch-site': 'cross-site', origin: ORIGIN },
      {},
    ]) {
      const r = await post(a, '/queues/pause', { name: 'emails' }, headers);
      expect(r.status, JSON.stringify(headers)).toBe(403);
      expect(r.text).toMatch(/another origin|must come from its own pages/);
    }
    expect(await fingerprint(pool)).toBe(before);
  });

  it('read-only: no buttons, and the server refuses the changes anyway', async () => {
    const a = createApp(tandem, { readOnly: true });
    const page = (await get(a, `/tasks/${ids.done}`)).text;
    expect(page).toContain('read-only');
    expect(page).not.toMatch(/hx-post/);
    expect((await get(a, '/tasks')).text).not.toContain('id="bulk"');
    expect((await get(a, '/queues')).text).not.toContain('Pause queue');
    const before = await fingerprint(pool);
    for (const [path, form] of [
      [`/tasks/${ids.done}/retry`, {}],
      [`/tasks/${ids.done}/delete`, {}],
      ['/bulk', { do: 'delete:selected', ids: ids.done! }],
      ['/queues/pause', { name: 'emails' }],
    ] as const) {
      const r = await post(a, path, form);
      expect(r.status, path).toBe(403);
      expect(r.text).toContain('read-only');
    }
    expect(await fingerprint(pool)).toBe(before);
  });
});

describe('sign-in', () => {
  const cookieOf = (r: Page) => /tandem_session=[^;]+/.exec(r.headers.get('set-cookie') ?? '')?.[0];

  it('with a token: pages need a session; a wrong token is refused; the right one opens a session', async () => {
    const a = createApp(tandem, { tokens: { alice: TOKEN, bob: `${TOKEN}-bob` } });
    const first = await get(a, '/tasks?status=failed');
    expect(first.status).toBe(303);
    expect(first.headers.get('location')).toBe('/login?next=%2Ftasks%3Fstatus%3Dfailed');
    const login = await get(a, '/login?next=%2Ftasks%3Fstatus%3Dfailed');
    expect(login.status).toBe(200);
    expect(login.text).toContain('<label for="token">API token</label>');
    expect(login.text).toContain('type="password"');

    const wrong = await post(a, '/login', { token: 'not-the-token-0123456789', next: '/tasks' });
    expect(wrong.status).toBe(401);
    expect(wrong.text).toContain('that token is not valid');
    expect(cookieOf(wrong)).toBeUndefined();

    const right = await post(a, '/login', { token: TOKEN, next: '/tasks?status=failed' });
    expect(right.status).toBe(303);
    expect(right.headers.get('location')).toBe('/tasks?status=failed');
    const setCookie = right.headers.get('set-cookie')!;
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    expect(setCookie).toMatch(/Path=\//);
    expect(setCookie).toMatch(/Max-Age=43200/);
    const cookie = cookieOf(right)!;
    const page = await get(a, '/tasks?status=failed', { cookie });
    expect(page.status).toBe(200);
    expect(page.text).toContain('Sign out');

    // The change is recorded as the token's label.
    const r = await post(a, `/tasks/${ids.done}/retry`, {}, { origin: ORIGIN, cookie });
    expect(r.status).toBe(200);
    const { rows } = await pool.query(
      `select actor from tandem.operator_actions where task_ids @> array[$1::bigint] order by id desc limit 1`,
      [ids.done],
    );
    expect(rows[0].actor).toBe('alice');

    // A tampered cookie, one for another label, or no cookie: back to the login page.
    const [name, value] = cookie.split('=') as [string, string];
    const forged = decodeURIComponent(value).replace(
      /~[^.]+/,
      `~${Buffer.from('bob').toString('base64url')}`,
    );
    for (const bad of [
      `${name}=${value.slice(0, -3)}abc`,
      `${name}=${encodeURIComponent(forged)}`,
      `${name}=x`,
    ]) {
      expect((await get(a, '/', { cookie: bad })).status, bad).toBe(303);
    }
    // The API keeps Bearer tokens: the cookie does not open it.
    expect((await get(a, '/api/queues', { cookie })).status).toBe(401);
    expect((await get(a, '/api/queues', { authorization: `Bearer ${TOKEN}` })).status).toBe(200);
    // Pages take a Bearer token too (scripts, curl).
    expect((await get(a, '/queues', { authorization: `Bearer ${TOKEN}` })).status).toBe(200);
    // htmx requests without a session are sent to the login page.
    const hx = await get(a, '/queues', { 'hx-request': 'true', 'hx-target': 'live' });
    expect(hx.status).toBe(401);
    expect(hx.headers.get('hx-redirect')).toBe('/login');
    // Assets are public (the login page needs them).
    expect((await get(a, '/assets/dashboard.css')).status).toBe(200);
  });

  it('a session ends after 12 hours, with sign-out, and when its token changes', async () => {
    const a = createApp(tandem, { token: TOKEN });
    const cookie = cookieOf(await post(a, '/login', { token: TOKEN }))!;
    expect((await get(a, '/', { cookie })).status).toBe(200);
    const out = await post(a, '/logout', {}, { origin: ORIGIN, cookie });
    expect(out.status).toBe(303);
    expect(out.headers.get('set-cookie')).toMatch(/tandem_session=;.*Max-Age=0/);
    const rotated = createApp(tandem, { token: `${TOKEN}-new` });
    expect((await get(rotated, '/', { cookie })).status).toBe(303);
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(Date.now() + 12 * 3_600_000 + 1000);
      expect((await get(a, '/', { cookie })).status).toBe(303);
    } finally {
      vi.useRealTimers();
    }
  });

  it('never redirects to another site after sign-in; read-only mode still lets you sign in', async () => {
    const a = createApp(tandem, { token: TOKEN, readOnly: true });
    for (const next of [
      'https://evil.example/',
      '//evil.example/x',
      '/\\evil.example',
      'javascript:alert(1)',
    ]) {
      const r = await post(a, '/login', { token: TOKEN, next });
      expect(r.status, next).toBe(303);
      expect(r.headers.get('location'), next).toBe('/');
    }
    const login = await post(a, '/login', { token: TOKEN }, { origin: 'http://evil.example' });
    expect(login.status).toBe(403);
  });
});

async function stateOf(id: string | undefined): Promise<string> {
  return (await pool.query('select state from tandem.tasks where id = $1', [id])).rows[0].state;
}

describe('limits', () => {
  it('limits on the Queues page: set from the form, shown, reset, and audited', async () => {
    const a = createApp(tandem);
    const set = await post(a, '/queues/limits', {
      scope: 'queue',
      name: 'payments',
      concurrency: '4',
      rate: '100/1s',
    });
    expect(set.status).toBe(200);
    expect(set.text).toContain('Limits of queue payments: concurrency 4, rate 100/1000ms.');
    const page = await get(a, '/queues');
    expect(page.text).toContain('0 of 4');
    expect(page.text).toContain('of 100/1000ms');
    expect(page.text).toContain('Reset limits of queue payments');
    const bad = await post(a, '/queues/limits', { scope: 'queue', name: 'payments', rate: 'fast' });
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('written like');
    const reset = await post(a, '/queues/limits/reset', { scope: 'queue', name: 'payments' });
    expect(reset.text).toContain('Limits of queue payments reset to the definitions.');
    expect(await tandem.listLimits()).toEqual([]);
    const log = await tandem.listOperatorActions({ limit: 5 });
    expect(log.actions.map((x: any) => x.action)).toEqual(
      expect.arrayContaining(['set-limits', 'reset-limits']),
    );
  });
});
