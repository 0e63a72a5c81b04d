/**
 * The dashboard's pages in process (app.request) against a real
 * PostgreSQL: every page renders what the database holds, bad query strings
 * get a message and never a stack trace, the base path, the assets and the
 * security headers. Actions and sign-in: dashboard-actions.test.ts; what
 * only a browser can show: dashboard.browser.test.ts.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { timelineSteps } from '../src/http/dashboard/components/timeline.js';
import { createApp } from '../src/http/index.js';
import { createTandem, type Tandem } from '../src/index.js';
import { charge, get, seedDashboard } from './support/dashboard.js';
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
    const bad = await get(a, '/admin/tandem/api/tasks?cursor=zzz');
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.text).error.code).toBe('INVALID_CURSOR');
    expect((await get(a, '/admin/tandem/nope')).text).toContain('there is no dashboard page');
  });

  it('dashboard: false serves the API alone', async () => {
    const a = createApp(tandem, { dashboard: false });
    const r = await get(a, '/');
    expect(r.status).toBe(404);
    expect(JSON.parse(r.text).error.code).toBe('NOT_FOUND');
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
