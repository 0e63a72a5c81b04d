/**
 * Overview: every queue with its live counts (from the partial indexes),
 * what finished in the window (from the stats rollup, never a count of
 * history), throughput and latency charts over the last hour or day, and
 * the workers alive with their leader.
 */
import type { QueueSummary } from '../../../client/client.js';
import type { WorkerInfo } from '../../../client/fleet.js';
import type { Stats } from '../../../client/stats.js';
import { TandemError } from '../../../errors.js';
import type { Api } from '../../routes/types.js';
import { Chart, ChartData } from '../components/chart.js';
import { Live } from '../components/live.js';
import { Tag } from '../components/state-badge.js';
import {
  type DashboardDeps,
  href,
  htmlResponse,
  isLiveRequest,
  type View,
  viewOf,
} from '../context.js';
import { count, duration } from '../format.js';
import { Layout } from '../layout.js';
import { one, readQuery } from '../query.js';

/**
 * The windows the overview offers, with the step each chart point covers.
 * A day is drawn from the hour rows of the rollup: 24 rows per worker and
 * task instead of 1,440 minute rows (measured at 1,000,000 tasks with four
 * workers × four tasks: about 470 ms with 10-minute steps, see
 * docs/dashboard.md).
 */
const WINDOWS = {
  '1h': { window: '1h', step: '1m', label: 'last hour', per: 'per minute' },
  '24h': { window: '24h', step: '1h', label: 'last 24 hours', per: 'per hour' },
} as const;
type WindowKey = keyof typeof WINDOWS;

interface Finished {
  succeeded: number;
  failed: number;
  retried: number;
}

function finishedByQueue(stats: Stats): Map<string, Finished> {
  const out = new Map<string, Finished>();
  for (const s of stats.series) {
    const f = out.get(s.queue) ?? { succeeded: 0, failed: 0, retried: 0 };
    f.succeeded += s.totals.succeeded;
    f.failed += s.totals.failed;
    f.retried += s.totals.retried;
    out.set(s.queue, f);
  }
  return out;
}

function summaries(stats: Stats, win: WindowKey): Record<'throughput' | 'latency', string> {
  const t = stats.total.totals;
  const label = WINDOWS[win].label;
  return {
    throughput: `${label}: ${count(t.succeeded)} succeeded, ${count(t.failed)} failed, ${count(t.retried)} retried`,
    latency: `${label}: run time p50 ${duration(t.runP50Ms)}, p95 ${duration(t.runP95Ms)}; lag p95 ${duration(t.lagP95Ms)}`,
  };
}

function Card(props: { label: string; value: string; sub?: string; tone?: string }) {
  return (
    <div class={`card${props.tone ? ` card-${props.tone}` : ''}`}>
      <div class="card-label">{props.label}</div>
      <div class="card-value">{props.value}</div>
      {props.sub && <div class="card-sub muted">{props.sub}</div>}
    </div>
  );
}

function OverviewLive(props: {
  view: View;
  win: WindowKey;
  queues: QueueSummary[];
  stats: Stats;
  workers: WorkerInfo[];
  now: number;
}) {
  const { view, stats, queues, workers, now } = props;
  const w = WINDOWS[props.win];
  const t = stats.total.totals;
  const alive = workers.filter((x) => x.alive);
  const leader = workers.find((x) => x.leader && x.alive);
  const finished = finishedByQueue(stats);
  const names = [...new Set([...queues.map((q) => q.name), ...finished.keys()])].sort();
  const byName = new Map(queues.map((q) => [q.name, q]));
  const backlog = queues.reduce((n, q) => n + q.queued + q.retrying, 0);
  const running = queues.reduce((n, q) => n + q.running, 0);
  const tasks = (query: Record<string, string>) => href(view.base, '/tasks', query);
  return (
    <Live url={view.url}>
      <section class="cards" aria-label="Totals">
        <Card label="Succeeded" value={count(t.succeeded)} sub={w.label} tone="ok" />
        <Card label="Failed" value={count(t.failed)} sub={w.label} tone={t.failed ? 'bad' : ''} />
        <Card
          label="Retried"
          value={count(t.retried)}
          sub={w.label}
          tone={t.retried ? 'warn' : ''}
        />
        <Card
          label="Run time p95"
          value={duration(t.runP95Ms)}
          sub={`p50 ${duration(t.runP50Ms)}`}
        />
        <Card label="Lag p95" value={duration(t.lagP95Ms)} sub="due → started" />
        <Card label="Waiting" value={count(backlog)} sub={`${count(running)} running now`} />
        <Card
          label="Workers alive"
          value={count(alive.length)}
          sub={leader ? `leader ${leader.id}` : 'no leader'}
          tone={alive.length ? '' : 'warn'}
        />
      </section>
      <h2>Queues</h2>
      {names.length === 0 ? (
        <p class="empty">No queues yet: enqueue a task and it shows up here.</p>
      ) : (
        <div class="table-wrap">
          <table>
            <caption class="visually-hidden">Queues with their live counts</caption>
            <thead>
              <tr>
                <th scope="col">Queue</th>
                <th scope="col" class="num">
                  Queued
                </th>
                <th scope="col" class="num">
                  Running
                </th>
                <th scope="col" class="num">
                  Retrying
                </th>
                <th scope="col" class="num">
                  Succeeded ({props.win})
                </th>
                <th scope="col" class="num">
                  Failed ({props.win})
                </th>
                <th scope="col" class="num">
                  Oldest runnable
                </th>
              </tr>
            </thead>
            <tbody>
              {names.map((name) => {
                const q = byName.get(name);
                const f = finished.get(name);
                const age = q?.oldestRunnableAt ? now - q.oldestRunnableAt.getTime() : null;
                return (
                  <tr>
                    <th scope="row">
                      <a href={tasks({ queue: name })}>{name}</a>{' '}
                      {q?.paused && <Tag tone="warn">paused</Tag>}
                    </th>
                    <td class="num">
                      <a href={tasks({ queue: name, status: 'queued' })}>{count(q?.queued ?? 0)}</a>
                    </td>
                    <td class="num">
                      <a href={tasks({ queue: name, status: 'running' })}>
                        {count(q?.running ?? 0)}
                      </a>
                    </td>
                    <td class="num">
                      <a href={tasks({ queue: name, status: 'retrying' })}>
                        {count(q?.retrying ?? 0)}
                      </a>
                    </td>
                    <td class="num">{count(f?.succeeded ?? 0)}</td>
                    <td class="num">
                      <a href={tasks({ queue: name, status: 'failed' })}>{count(f?.failed ?? 0)}</a>
                    </td>
                    <td class="num">{age === null ? '—' : duration(Math.max(0, age))}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      <ChartData stats={stats} summaries={summaries(stats, props.win)} />
    </Live>
  );
}

export function overviewRoutes(app: Api, deps: DashboardDeps): void {
  app.get('/', async (c) => {
    const q = readQuery(c, ['window']);
    const win = (one(q, 'window') ?? '1h') as WindowKey;
    if (!(win in WINDOWS))
      throw new TandemError(
        'INVALID_OPTIONS',
        `window must be one of ${Object.keys(WINDOWS).join(', ')}, got ${JSON.stringify(win.slice(0, 50))}`,
      );
    const w = WINDOWS[win];
    const [queues, stats, workers] = await Promise.all([
      deps.tandem.listQueues(),
      deps.tandem.stats({ window: w.window, step: w.step }),
      deps.tandem.listWorkers(),
    ]);
    const view = viewOf(c, deps);
    const live = (
      <OverviewLive
        view={view}
        win={win}
        queues={queues}
        stats={stats}
        workers={workers}
        now={Date.now()}
      />
    );
    if (isLiveRequest(c)) return htmlResponse(c, live);
    const text = summaries(stats, win);
    return htmlResponse(
      c,
      <Layout view={view} title="Overview" nav="overview" charts>
        <div class="page-head">
          <h1>Overview</h1>
          <nav class="segmented" aria-label="Chart window">
            {(Object.keys(WINDOWS) as WindowKey[]).map((k) => (
              <a
                href={href(deps.base, '/', { window: k === '1h' ? null : k })}
                aria-current={k === win ? 'page' : undefined}
              >
                {WINDOWS[k].label}
              </a>
            ))}
          </nav>
        </div>
        {live}
        <section class="charts" aria-label="Charts">
          <Chart kind="throughput" title={`Throughput, ${w.per}`} summary={text.throughput} />
          <Chart
            kind="latency"
            title="Latency (ms): run time p50 / p95, lag p95"
            summary={text.latency}
          />
        </section>
      </Layout>,
    );
  });
}
