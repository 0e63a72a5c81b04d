/**
 * The dashboard in a real headless Chromium (Debian's, through
 * playwright-core) against tandem.server() and a real worker on a real
 * PostgreSQL: the flows an operator goes through, live updates without a
 * reload, sign-in, and the cross-origin refusal. Screenshots of every page
 * go to test-artifacts/ (git-ignored).
 */
import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { TandemServer } from '../src/http/index.js';
import { createTandem, defineTask, type Tandem, type Worker } from '../src/index.js';
import { browserAvailable, launchChromium } from './support/browser.js';
import { freshDatabase } from './support/db.js';
import { quietLogger } from './support/quiet-logger.js';
import { waitFor } from './support/wait.js';

// The page's globals, inside page.evaluate() callbacks (this file is not compiled with the DOM library).
declare const window: any;
declare const document: any;

const ARTIFACTS = new URL('../test-artifacts/', import.meta.url).pathname;
const TOKEN = 'browser-test-token-0123456789';

const charge = defineTask({
  name: 'charge',
  queue: 'payments',
  payload: z.object({ orderId: z.number() }),
  handler: ({ orderId }) => ({ charged: orderId }),
});

let pool: pg.Pool;
let tandem: Tandem;
let worker: Worker;
let server: TandemServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const ids = { timeout: '', declined: [] as string[], fraud: '' };

const attempts = (messages: string[]) =>
  JSON.stringify(
    messages.map((message, i) => ({
      attempt: i + 1,
      started_at: new Date(Date.now() - 60_000 + i * 2000).toISOString(),
      at: new Date(Date.now() - 60_000 + i * 2000 + 35).toISOString(),
      name: 'Error',
      message,
      stack: `Error: ${message}\n    at charge (shop/tasks.ts:12:11)`,
      worker: 'w-old',
    })),
  );

async function failed(orderId: number, messages: string[]): Promise<string> {
  const { rows } = await pool.query(
    `insert into tandem.tasks (name, queue, payload, key, state, attempt, max_attempts, errors, started_at, finished_at, created_at)
     values ('charge', 'payments', $1, $2, 'failed', $3::int, $3::int, $4, now() - interval '55 seconds', now() - interval '55 seconds', now() - interval '70 seconds')
     returning id::text`,
    [{ orderId }, `order:${orderId}`, messages.length, attempts(messages)],
  );
  return rows[0].id;
}

const run = browserAvailable();

const shot = (p: Page, name: string) =>
  p.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage: true });
const stateOf = async (id: string) =>
  (await pool.query('select state from tandem.tasks where id = $1', [id])).rows[0]?.state;

beforeAll(async () => {
  if (!run) return;
  mkdirSync(ARTIFACTS, { recursive: true });
  browser = await launchChromium();
  const url = await freshDatabase();
  pool = new pg.Pool({ connectionString: url, max: 3 });
  tandem = createTandem({ connectionString: url, tasks: [charge], logger: quietLogger });
  ids.timeout = await failed(1, ['connection reset', 'gateway timeout']);
  for (const n of [2, 3, 4]) ids.declined.push(await failed(n, ['card declined']));
  ids.fraud = await failed(5, ['fraud check failed']);
  await pool.query(
    `insert into tandem.tasks (name, queue, payload, key, state, attempt, run_at)
     select 'send-mail', 'emails', jsonb_build_object('to', 'user' || g || '@example.com'), 'mail:' || g,
            case when g > 5 then 'retrying' else 'queued' end, case when g > 5 then 1 else 0 end,
            case when g > 5 then now() + interval '1 hour' else now() end
       from generate_series(1, 7) g`,
  );
  await pool.query(
    `insert into tandem.task_stats (span_s, at, queue, name, writer, succeeded, failed, retried,
                                    run_hist, run_sum_ms, lag_hist, lag_sum_ms)
     select 60, date_trunc('minute', now()) - m * interval '1 minute', 'reports', 'report', 'w-old',
            case when m = 0 then 40 else 10 end, 1, 2,
            array[0,0,0,0,0,0,0,5,5,0,0,0,0,0,0,0,0,0,0,0,0], 100, array[0,0,0,0,0,5,5,0,0,0,0,0,0,0,0,0,0,0,0,0,0], 20
       from generate_series(0, 30) m`,
  );
  await pool.query(
    `insert into tandem.schedules (name, last_tick, cron, timezone, task, defined_at)
     values ('hourly-totals', date_trunc('hour', now()), '0 * * * *', 'Europe/Paris', 'report', now())`,
  );
  server = await tandem.server({ port: 0 });
  worker = tandem.worker({ queues: { payments: 2 }, pollInterval: 200 });
  await worker.start();
  context = await browser.newContext({
    viewport: { width: 1280, height: 900 },
    locale: 'en-US',
    timezoneId: 'Asia/Tokyo',
  });
  page = await context.newPage();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await worker?.stop();
  await server?.close();
  await tandem?.close();
  await pool?.end();
});

describe.runIf(run)('the dashboard in Chromium', () => {
  it('overview: the counts of the seeded database, charts, and live updates without a reload', async () => {
    await page.goto(server.url);
    const emails = page.getByRole('row', { name: /^emails/ });
    await expect.poll(() => emails.getByRole('cell').nth(0).textContent()).toBe('5');
    expect(await emails.getByRole('cell').nth(2).textContent()).toBe('2');
    const reports = page.getByRole('row', { name: /^reports/ });
    // 40 this minute + 30 × 10 before it, from the rollup.
    expect(await reports.getByRole('cell').nth(3).textContent()).toBe('340');
    await page.locator('.chart-plot canvas').first().waitFor();
    expect(await page.locator('.chart-plot canvas').count()).toBeGreaterThanOrEqual(2);
    await page.evaluate(() => {
      window.marker = 1;
    });
    await pool.query(
      `insert into tandem.tasks (name, queue, payload) values ('send-mail', 'emails', '{}')`,
    );
    await expect
      .poll(() => emails.getByRole('cell').nth(0).textContent(), { timeout: 5000 })
      .toBe('6');
    expect(await page.evaluate(() => window.marker)).toBe(1);
    await shot(page, 'overview');
  });

  it('tasks: filter failed tasks, open one, see every attempt’s error, in the viewer’s time zone', async () => {
    await page.goto(`${server.url}/tasks`);
    await page.getByRole('checkbox', { name: 'failed', exact: true }).check();
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.waitForURL(/status=failed/);
    const rows = page.locator('table.tasks tbody tr');
    expect(await rows.count()).toBe(5);
    expect(await page.locator('table.tasks tbody .badge').allTextContents()).toEqual(
      Array(5).fill('failed'),
    );
    // A ticked task stays ticked when the live region refreshes.
    await page.getByRole('checkbox', { name: `Select task ${ids.fraud}` }).check();
    expect(await page.locator('[data-selected-count]').textContent()).toBe('1');
    await page.waitForResponse((r) => r.request().headers()['hx-target'] === 'live');
    await page.waitForTimeout(100);
    expect(await page.getByRole('checkbox', { name: `Select task ${ids.fraud}` }).isChecked()).toBe(
      true,
    );
    expect(await page.locator('[data-selected-count]').textContent()).toBe('1');
    await shot(page, 'tasks');

    await page.getByRole('link', { name: `#${ids.timeout}`, exact: true }).click();
    await page.waitForURL(new RegExp(`/tasks/${ids.timeout}$`));
    const attempts = page.locator('.attempt');
    expect(await attempts.count()).toBe(2);
    expect(await attempts.nth(0).textContent()).toContain('connection reset');
    expect(await attempts.nth(1).textContent()).toContain('gateway timeout');
    await attempts.nth(0).getByText('Stack').click();
    expect(await attempts.nth(0).locator('pre.stack').textContent()).toContain(
      'shop/tasks.ts:12:11',
    );
    // Times in Asia/Tokyo, UTC on hover.
    const time = page.locator('.summary time').first();
    const iso = (await time.getAttribute('datetime'))!;
    const tokyo = new Intl.DateTimeFormat('en-US', {
      timeZone: 'Asia/Tokyo',
      month: 'short',
      day: 'numeric',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    }).format(new Date(iso));
    expect(await time.textContent()).toBe(tokyo);
    expect(await time.getAttribute('title')).toBe(`${iso.replace('T', ' ').slice(0, 19)} UTC`);
    await shot(page, 'task');
  });

  it('task: retry it and watch it succeed without reloading', async () => {
    await page.evaluate(() => {
      window.marker = 2;
    });
    await page.getByRole('button', { name: 'Retry' }).click();
    await page.getByText(`Task ${ids.timeout} is queued again`).waitFor();
    await page.locator('h1 .badge', { hasText: 'succeeded' }).waitFor({ timeout: 10_000 });
    expect(await stateOf(ids.timeout)).toBe('succeeded');
    expect(await page.locator('.timeline').textContent()).toContain('Attempt 3 succeeded');
    expect(await page.evaluate(() => window.marker)).toBe(2);
    await shot(page, 'task-retried');
  });

  it('failures: bulk-retry a group after a confirmation that states the count', async () => {
    await page.goto(`${server.url}/failures`);
    const group = page.locator('article.group', { hasText: 'card declined' });
    expect(await group.locator('.count-pill').textContent()).toBe('3');
    await shot(page, 'failures');
    // Escape closes the dialog unchanged, and focus goes back to the button.
    const opener = group.getByRole('button', { name: 'Retry this group…' });
    await opener.click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('heading', { name: 'Retry 3 tasks?' }).waitFor();
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    expect(await opener.evaluate((el) => el === document.activeElement)).toBe(true);
    expect(await stateOf(ids.declined[0]!)).toBe('failed');
    await group.getByRole('button', { name: 'Retry this group…' }).click();
    await dialog.getByRole('heading', { name: 'Retry 3 tasks?' }).waitFor();
    await shot(page, 'failures-confirm');
    await dialog.getByRole('button', { name: 'Retry 3 tasks' }).click();
    await page.getByText('Retried 3 tasks.').waitFor();
    await dialog.waitFor({ state: 'hidden' });
    await waitFor(
      async () => (await Promise.all(ids.declined.map(stateOf))).every((s) => s === 'succeeded'),
      10_000,
      'the group to succeed',
    );
    await group.waitFor({ state: 'detached', timeout: 5000 });
    expect(await stateOf(ids.fraud)).toBe('failed');
  });

  it('queues: pause from the keyboard, resume with a click', async () => {
    await page.goto(`${server.url}/queues`);
    const pause = page.getByRole('button', { name: 'Pause queue emails' });
    for (let i = 0; i < 40 && !(await pause.evaluate((el) => el === document.activeElement)); i++)
      await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.getByText('Queue emails is paused.').waitFor();
    await page
      .getByRole('row', { name: /^emails/ })
      .getByText('paused')
      .waitFor();
    expect(
      (await pool.query(`select paused from tandem.queues where name = 'emails'`)).rows[0].paused,
    ).toBe(true);
    await shot(page, 'queues');
    await page.getByRole('button', { name: 'Resume queue emails' }).click();
    await page.getByText('Queue emails is running again.').waitFor();
    await page.getByRole('button', { name: 'Pause queue emails' }).waitFor();
    expect(
      (await pool.query(`select paused from tandem.queues where name = 'emails'`)).rows[0].paused,
    ).toBe(false);
  });

  it('workers, schedules and the operator log', async () => {
    await page.goto(`${server.url}/workers`);
    await page
      .getByRole('row', { name: new RegExp(worker.id) })
      .getByText('alive')
      .waitFor();
    await shot(page, 'workers');
    await page.goto(`${server.url}/schedules`);
    await page
      .getByRole('row', { name: /hourly-totals/ })
      .getByText('0 * * * *')
      .waitFor();
    await shot(page, 'schedules');
    await page.goto(`${server.url}/log`);
    const actions = await page.locator('tbody tr td:nth-child(3)').allTextContents();
    expect(actions).toEqual(['resume', 'pause', 'bulk-retry', 'retry']);
    await shot(page, 'operator-log');
  });

  it('every control has a name; the skip link and the navigation come first on Tab', async () => {
    for (const path of ['/tasks', '/queues', '/failures', `/tasks/${ids.fraud}`, '/log']) {
      await page.goto(`${server.url}${path}`);
      const unnamed = await page.evaluate(() =>
        [...document.querySelectorAll('input:not([type=hidden]), select, button, textarea')]
          .filter((el) => {
            const e = el as any;
            return !(
              e.labels?.length ||
              e.getAttribute('aria-label') ||
              e.getAttribute('title') ||
              e.textContent?.trim()
            );
          })
          .map((el) => el.outerHTML.slice(0, 120)),
      );
      expect(unnamed, path).toEqual([]);
    }
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent?.trim())).toBe(
      'Skip to content',
    );
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent?.trim())).toBe('Tandem');
  });

  it('stops polling in a hidden tab and refreshes as soon as it is visible again', async () => {
    await page.goto(`${server.url}/queues`);
    const live: number[] = [];
    page.on('request', (r) => {
      if (r.headers()['hx-target'] === 'live') live.push(Date.now());
    });
    await expect.poll(() => live.length, { timeout: 5000 }).toBeGreaterThanOrEqual(1);
    await page.evaluate(() => {
      Object.defineProperty(document, 'visibilityState', {
        configurable: true,
        get: () => 'hidden',
      });
      document.dispatchEvent(new Event('visibilitychange'));
    });
    const hiddenAt = Date.now() + 300;
    await page.waitForTimeout(4500);
    expect(live.filter((t) => t > hiddenAt)).toEqual([]);
    expect(await page.locator('#live-status').textContent()).toBe('paused while hidden');
    const before = live.length;
    await page.evaluate(() => {
      Object.defineProperty(document, 'visibilityState', {
        configurable: true,
        get: () => 'visible',
      });
      document.dispatchEvent(new Event('visibilitychange'));
    });
    await expect.poll(() => live.length, { timeout: 1000 }).toBeGreaterThan(before);
  });

  it('a phone-width screen in dark mode: nothing overflows, dark colours', async () => {
    const phone = await browser.newContext({
      viewport: { width: 390, height: 844 },
      isMobile: true,
      colorScheme: 'dark',
      locale: 'en-US',
    });
    try {
      const p = await phone.newPage();
      for (const path of ['/', '/tasks', `/tasks/${ids.timeout}`, '/failures', '/queues']) {
        await p.goto(`${server.url}${path}`);
        const overflow = await p.evaluate(
          () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
        );
        expect(overflow, path).toBeLessThanOrEqual(0);
      }
      await p.goto(server.url);
      await p.locator('.chart-plot canvas').first().waitFor();
      const bg = await p.evaluate(() => window.getComputedStyle(document.body).backgroundColor);
      const [r, g, b] = bg.match(/\d+/g)!.map(Number);
      expect(r! + g! + b!).toBeLessThan(120);
      await shot(p, 'overview-phone-dark');
    } finally {
      await phone.close();
    }
  });
});

describe.runIf(run)('with a token', () => {
  let locked: TandemServer;
  let evil: Server;
  beforeAll(async () => {
    locked = await tandem.server({ port: 0, token: TOKEN });
  });
  afterAll(async () => {
    await locked?.close();
    await new Promise((r) => (evil ? evil.close(r) : r(null)));
  });

  it('the login page appears, a wrong token is refused, the right one works, sign-out ends it', async () => {
    const ctx = await browser.newContext({ locale: 'en-US' });
    try {
      const p = await ctx.newPage();
      await p.goto(`${locked.url}/failures`);
      await p.waitForURL(/\/login\?next=%2Ffailures$/);
      await shot(p, 'login');
      await p.getByLabel('API token').fill('not-the-right-token-000');
      await p.getByRole('button', { name: 'Sign in' }).click();
      await p.getByRole('alert').getByText('that token is not valid').waitFor();
      expect(p.url()).toMatch(/\/login$/);
      expect(await ctx.cookies()).toEqual([]);
      await p.getByLabel('API token').fill(TOKEN);
      await p.getByRole('button', { name: 'Sign in' }).click();
      await p.waitForURL(/\/failures$/);
      await p.getByRole('heading', { name: 'Failures' }).waitFor();
      const [cookie] = await ctx.cookies();
      expect(cookie).toMatchObject({ name: 'tandem_session', httpOnly: true, sameSite: 'Strict' });
      expect(await p.evaluate(() => document.cookie)).toBe('');
      await p.getByRole('button', { name: 'Sign out' }).click();
      await p.waitForURL(/\/login$/);
      await p.goto(locked.url);
      await p.waitForURL(/\/login/);
    } finally {
      await ctx.close();
    }
  });

  it('a signed-in browser cannot be made to change anything from another origin', async () => {
    const ctx = await browser.newContext({ locale: 'en-US' });
    try {
      const p = await ctx.newPage();
      await p.goto(`${locked.url}/login`);
      await p.getByLabel('API token').fill(TOKEN);
      await p.getByRole('button', { name: 'Sign in' }).click();
      await p.getByRole('heading', { name: 'Overview' }).waitFor();
      // Another origin on the same host (so the SameSite cookie does go along):
      // a page that posts a retry form to the dashboard as soon as it loads.
      evil = createServer((_req, res) => {
        res.setHeader('content-type', 'text/html');
        res.end(`<form method="post" action="${locked.url}/tasks/${ids.fraud}/retry"></form>
                 <script>document.forms[0].submit()</script>`);
      });
      await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
      const port = (evil.address() as AddressInfo).port;
      const answer = p.waitForResponse((r) => r.url().endsWith(`/tasks/${ids.fraud}/retry`));
      await p.goto(`http://127.0.0.1:${port}/`);
      const res = await answer;
      expect(res.status()).toBe(403);
      expect(await res.text()).toContain('mutations from another origin are refused');
      expect(await stateOf(ids.fraud)).toBe('failed');
      const { rows } = await pool.query(
        'select 1 from tandem.operator_actions where task_ids @> array[$1::bigint]',
        [ids.fraud],
      );
      expect(rows).toEqual([]);
    } finally {
      await ctx.close();
    }
  });
});
