/**
 * The dashboard in process (app.request) against a real PostgreSQL: every
 * page renders what the database holds, bad query strings get a message and
 * never a stack trace, sign-in with a session cookie, the cross-origin and
 * read-only guards, the base path, the assets, and the operator log.
 * What only a browser can show is in dashboard.browser.test.ts.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { timelineSteps } from '../src/http/dashboard/components/timeline.js';
import { createApp } from '../src/http/index.js';
import { createTandem, defineTask, type Tandem } from '../src/index.js';
import { freshDatabase } from './support/db.js';
import { fingerprint } from './support/http.js';
import { quietLogger } from './support/quiet-logger.js';

let pool: pg.Pool;
let tandem: Tandem;
const ids: Record<string, string> = {};
const TOKEN = 'dashboard-token-0123456789';
const ORIGIN = 'http://localhost';

const charge = defineTask({
  name: 'charge',
  queue: 'payments',
  payload: z.object({ orderId: z.number() }),
  handler: () => ({ ok: true }),
});

type App = ReturnType<typeof createApp>;
interface Page {
  status: number;
  text: string;
  headers: Headers;
}

async function get(app: App, path: string, headers: Record<string, string> = {}): Promise<Page> {
  const res = await app.request(path, { headers });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

async function post(
  app: App,
  path: string,
  form: Record<string, string | string[]>,
  headers: Record<string, string> = { origin: ORIGIN },
): Promise<Page> {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(form)) for (const one of [v].flat()) body.append(k, one);
  const res = await app.request(path, {
    method: 'POST',
    body,
    headers: { host: 'localhost', 'content-type': 'application/x-www-form-urlencoded', ...headers },
  });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

const errors = (n: number, message: string) =>
  JSON.stringify(
    Array.from({ length: n }, (_, i) => ({
      attempt: i + 1,
      at: new Date(Date.now() - (n - i) * 1000).toISOString(),
      started_at: new Date(Date.now() - (n - i) * 1000 - 40).toISOString(),
      name: 'Error',
      message: i === n - 1 ? message : `attempt ${i + 1} went wrong`,
      stack: `Error: ${message}\n    at charge (tasks.ts:10:5)`,
      worker: 'w-1',
    })),
  );

beforeAll(async () => {
  const url = await freshDatabase();
  pool = new pg.Pool({ connectionString: url, max: 3 });
  tandem = createTandem({ connectionString: url, tasks: [charge], logger: quietLogger });
  const insert = async (key: string, sql: string, params: unknown[] = []) => {
    ids[key] = (await pool.query(sql, params)).rows[0].id;
  };
  for (let i = 0; i < 3; i++)
    await insert(
      `failed${i}`,
      `insert into tandem.tasks (name, queue, payload, key, state, attempt, max_attempts, errors, started_at, finished_at)
       values ('charge', 'payments', $1, $2, 'failed', 3, 3, $3, now() - interval '1 second', now()) returning id::text`,
      [{ orderId: i }, `order:${i}`, errors(3, 'card declined')],
    );
  await insert(
    'queued',
    `insert into tandem.tasks (name, queue, payload, key) values ('charge', 'emails', '{"orderId":9}', 'order:9') returning id::text`,
  );
  await insert(
    'done',
    `insert into tandem.tasks (name, queue, payload, state, attempt, result, started_at, finished_at)
     values ('charge', 'payments', '{"orderId":7}', 'succeeded', 1, '{"ok":true}', now() - interval '2 seconds', now()) returning id::text`,
  );
  await pool.query(
    `insert into tandem.task_stats (span_s, at, queue, name, writer, succeeded, failed, retried,
                                    run_hist, run_sum_ms, lag_hist, lag_sum_ms)
     values (60, date_trunc('minute', now()), 'payments', 'charge', 'w-1', 41, 3, 6,
             array_fill(0, array[21]), 0, array_fill(0, array[21]), 0)`,
  );
  await pool.query(
    `insert into tandem.schedules (name, last_tick, cron, timezone, task, defined_at)
     values ('nightly', now(), '0 3 * * *', 'Europe/Paris', 'charge', now())`,
  );
});
afterAll(async () => {
  await tandem.close();
  await pool.end();
});

describe('pages', () => {
  const app = () => createApp(tandem);

  it('every page renders the database: overview, tasks, task, failures, queues, workers, schedules, log', async () => {
    const a = app();
    const overview = await get(a, '/');
    expect(overview.status).toBe(200);
    expect(overview.headers.get('content-type')).toMatch(/^text\/html/);
    expect(overview.text).toMatch(/^<!doctype html>/);
    expect(overview.text).toContain('<h1>Overview</h1>');
    // payments: 41 succeeded and 3 failed in the window (rollup); emails: 1 queued.
    expect(overview.text).toMatch(/payments<\/a>.*?<td class="num">41<\/td>/s);
    expect(overview.text).toMatch(/emails<\/a>.*?status=queued">1<\/a>/s);
    expect(overview.text).toContain('data-chart="throughput"');

    const tasks = await get(a, '/tasks?status=failed');
    expect(tasks.status).toBe(200);
    for (let i = 0; i < 3; i++) expect(tasks.text).toContain(`href="/tasks/${ids[`failed${i}`]}"`);
    expect(tasks.text).not.toContain(`href="/tasks/${ids.done}"`);
    expect(tasks.text).toContain('Error: card declined');

    const task = await get(a, `/tasks/${ids.failed0}`);
    expect(task.status).toBe(200);
    for (const m of ['attempt 1 went wrong', 'attempt 2 went wrong', 'card declined'])
      expect(task.text).toContain(m);
    expect(task.text).toContain('at charge (tasks.ts:10:5)');
    expect(task.text).toContain('href="/tasks?key=order%3A0"');
    expect(task.text).toContain('&quot;orderId&quot;: 0');
    expect(task.text).toContain('id="task-retry"');

    const failures = await get(a, '/failures');
    expect(failures.text).toMatch(/<span class="count-pill">3<\/span> charge/);
    expect(failures.text).toContain('value="retry:filter"');

    const queues = await get(a, '/queues');
    expect(queues.text).toContain('emails</a>');
    expect(queues.text).toContain('Pause queue emails');

    expect((await get(a, '/workers')).text).toContain('No worker is registered');
    const schedules = await get(a, '/schedules');
    expect(schedules.text).toContain('<code>0 3 * * *</code>');
    expect(schedules.text).toContain('Europe/Paris');
    expect((await get(a, '/log')).text).toContain('No operator action recorded');
  });

  it('a live refresh (htmx, HX-Target: live) gets only the live region', async () => {
    const r = await get(app(), '/queues', { 'hx-request': 'true', 'hx-target': 'live' });
    expect(r.status).toBe(200);
    expect(r.text).toMatch(/^<div id="live"/);
    expect(r.text).not.toContain('<html');
    expect(r.headers.get('cache-control')).toBe('no-store');
  });

  it('bad query strings and ids: a 4xx page that says what is wrong, no stack trace, nothing written', async () => {
    const a = app();
    const before = await fingerprint(pool);
    const cases: [string, number, RegExp][] = [
      ['/tasks?status=bogus', 400, /unknown task state &quot;bogus&quot;/],
      ['/tasks?cursor=zzz', 400, /invalid cursor/],
      ['/tasks?payload=%7B', 400, /payload must be JSON/],
      ['/tasks?payload=%22x%22', 400, /payload must be a JSON object/],
      ['/tasks?nosuch=1', 400, /unknown parameter &quot;nosuch&quot;/],
      ['/tasks?limit=0', 400, /limit must be a whole number from 1 to 500/],
      ['/tasks?since=3y', 400, /since must be one of 15m/],
      ['/tasks?created_after=yesterday', 400, /created_after is not a valid timestamp/],
      ["/tasks?name=x';drop%20table%20tandem.tasks;--", 400, /filter name must be/],
      ['/tasks/abc', 400, /task id/],
      ['/tasks/-1', 400, /task id/],
      ['/tasks/99999999999999999999', 400, /task id/],
      ['/tasks/123456789', 404, /there is no task 123456789/],
      ['/?window=2h', 400, /window must be one of 1h, 24h/],
      ['/log?task_id=x', 400, /task id/],
      ['/failures?name=%3Cscript%3E', 400, /name must be a task name/],
      ['/queues?x=1', 400, /unknown parameter/],
      ['/no-such-page', 404, /there is no dashboard page at \/no-such-page/],
    ];
    for (const [path, status, message] of cases) {
      const r = await get(a, path);
      expect(r.status, path).toBe(status);
      expect(r.text, path).toMatch(message);
      expect(r.text, path).toContain('role="alert"');
      expect(r.text, path).not.toMatch(/\n\s+at |node_modules|\.ts:\d+/);
      expect(r.text, path).not.toContain('<script>');
    }
    // The tasks page keeps its form next to the message, so the filter can be fixed.
    expect((await get(a, '/tasks?status=bogus')).text).toContain('name="status"');
    expect(await fingerprint(pool)).toBe(before);
  });

  it('everything the user controls is escaped', async () => {
    const r = await get(app(), '/tasks?key=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E');
    expect(r.status).toBe(200);
    expect(r.text).not.toContain('<img src=x');
    expect(r.text).toContain('&lt;img src=x onerror=alert(1)&gt;');
  });

  it('security headers: a strict script policy, no framing, no caching of pages', async () => {
    const r = await get(app(), '/');
    const csp = r.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toMatch(/script-src[^;]*unsafe/);
    expect(r.headers.get('x-frame-options')).toBe('DENY');
    expect(r.headers.get('referrer-policy')).toBe('same-origin');
    expect(r.headers.get('cache-control')).toBe('no-store');
    // The API's JSON is left as it was.
    expect((await get(app(), '/api/queues')).headers.get('content-security-policy')).toBeNull();
  });

  it('serves its assets from the package, cached by content hash', async () => {
    const a = app();
    const page = (await get(a, '/')).text;
    for (const name of [
      'htmx.min.js',
      'uplot.min.js',
      'uplot.min.css',
      'dashboard.js',
      'dashboard.css',
    ]) {
      const m = new RegExp(`/assets/${name.replace('.', '\\.')}\\?v=([0-9a-f]{12})`).exec(page);
      expect(m, name).not.toBeNull();
      const r = await get(a, `/assets/${name}?v=${m![1]}`);
      expect(r.status, name).toBe(200);
      expect(r.headers.get('content-type')).toMatch(
        name.endsWith('.js') ? /javascript/ : /text\/css/,
      );
      expect(r.headers.get('cache-control')).toContain('immutable');
      expect(r.text.length).toBeGreaterThan(500);
      const again = await get(a, `/assets/${name}`, { 'if-none-match': r.headers.get('etag')! });
      expect(again.status).toBe(304);
    }
    expect((await get(a, '/assets/htmx.min.js')).text).toContain('htmx');
    expect((await get(a, '/assets/..%2F..%2Fpackage.json')).status).toBe(404);
    expect((await get(a, '/assets/nope.js')).status).toBe(404);
  });

  it('under a base path: every link, form and asset stays under it', async () => {
    const a = createApp(tandem, { basePath: '/admin/tandem' });
    const r = await get(a, '/admin/tandem');
    expect(r.status).toBe(200);
    const urls = [...r.text.matchAll(/(?:href|src|action|hx-get|hx-post)="([^"]*)"/g)].map(
      (m) => m[1]!,
    );
    expect(urls.length).toBeGreaterThan(10);
    for (const u of urls)
      if (!u.startsWith('#') && u !== 'data:,') expect(u).toMatch(/^\/admin\/tandem(\/|\?|$)/);
    expect((await get(a, '/admin/tandem/')).status).toBe(308);
    expect((await get(a, '/admin/tandem/tasks?status=failed')).text).toContain(
      `/admin/tandem/tasks/${ids.failed1}`,
    );
    expect((await get(a, '/tasks')).status).toBe(404);
    expect((await get(a, '/admin/tandem/api/queues')).status).toBe(200);
    // The API's errors keep their JSON shape under a base path too.
    const missing = await get(a, '/admin/tandem/api/nope');
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.text).error.code).toBe('NOT_FOUND');
    const bad = await get(a, '/admin/tandem/api/tasks?status=bogus');
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.text).error.code).toBe('INVALID_FILTER');
    expect((await get(a, '/admin/tandem/nope')).text).toContain('there is no dashboard page');
  });

  it('dashboard: false serves the API alone', async () => {
    const a = createApp(tandem, { dashboard: false });
    const r = await get(a, '/');
    expect(r.status).toBe(404);
    expect(JSON.parse(r.text).error.code).toBe('NOT_FOUND');
  });
});

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

describe('timeline', () => {
  it('tells a task’s story: created, each failed attempt with its run time, the successful one, finished', () => {
    const t0 = Date.parse('2026-12-01T10:00:00Z');
    const steps = timelineSteps({
      id: '1',
      name: 'charge',
      queue: 'payments',
      payload: {},
      key: null,
      priority: 0,
      state: 'succeeded',
      attempt: 2,
      maxAttempts: 3,
      createdAt: new Date(t0),
      runAt: new Date(t0 + 1500),
      startedAt: new Date(t0 + 1600),
      finishedAt: new Date(t0 + 1650),
      result: { ok: true },
      errors: [
        {
          attempt: 1,
          started_at: new Date(t0 + 10).toISOString(),
          at: new Date(t0 + 510).toISOString(),
          name: 'Error',
          message: 'timeout',
          worker: 'w-1',
        },
      ],
      timeoutMs: null,
      owner: null,
      metadata: null,
    });
    expect(steps.map((s) => [s.label, s.at?.getTime() ?? null, s.tookMs ?? null])).toEqual([
      ['Created', t0, null],
      ['Attempt 1 failed', t0 + 10, 500],
      ['Attempt 2 succeeded', t0 + 1600, 50],
      ['Finished: succeeded', t0 + 1650, null],
    ]);
    expect(steps[1]!.detail).toBe('Error: timeout (worker w-1)');
  });
});

async function stateOf(id: string | undefined): Promise<string> {
  return (await pool.query('select state from tandem.tasks where id = $1', [id])).rows[0].state;
}
