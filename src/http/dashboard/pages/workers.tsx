/** Workers: every registered worker process, what it runs, its heartbeat, the leader. */
import type { WorkerInfo } from '../../../client/fleet.js';
import type { Api } from '../../routes/types.js';
import { Live } from '../components/live.js';
import { Tag } from '../components/state-badge.js';
import { Time } from '../components/time.js';
import { type DashboardDeps, htmlResponse, isLiveRequest, viewOf } from '../context.js';
import { count, duration } from '../format.js';
import { Layout } from '../layout.js';
import { readQuery } from '../query.js';

function WorkerRow(props: { w: WorkerInfo; now: number }) {
  const { w } = props;
  const queues = Object.entries(w.queues)
    .map(([q, n]) => `${q} × ${n}`)
    .join(', ');
  return (
    <tr>
      <th scope="row">
        <code>{w.id}</code> {w.leader && <Tag tone="info">leader</Tag>}
      </th>
      <td>{w.alive ? <Tag tone="ok">alive</Tag> : <Tag tone="bad">not responding</Tag>}</td>
      <td>
        {w.host} <span class="muted">pid {w.pid}</span>
      </td>
      <td>{queues || <span class="muted">none</span>}</td>
      <td class="num">{count(w.running)}</td>
      <td>
        <Time at={w.startedAt} />
      </td>
      <td>
        {duration(Math.max(0, props.now - w.heartbeatAt.getTime()))} ago{' '}
        <span class="muted">(lease {duration(w.leaseMs)})</span>
      </td>
    </tr>
  );
}

export function workersRoutes(app: Api, deps: DashboardDeps): void {
  app.get('/workers', async (c) => {
    readQuery(c, []);
    const workers = await deps.tandem.listWorkers();
    const view = viewOf(c, deps);
    const now = Date.now();
    const alive = workers.filter((w) => w.alive).length;
    const live = (
      <Live url={view.url}>
        <p class="muted">
          {count(alive)} alive of {count(workers.length)} registered. The leader runs the rescuer,
          cron and retention pruning.
        </p>
        {workers.length === 0 ? (
          <p class="empty">
            No worker is registered: start one with tandem worker --tasks ./tasks.js.
          </p>
        ) : (
          <div class="table-wrap">
            <table>
              <caption class="visually-hidden">Workers</caption>
              <thead>
                <tr>
                  <th scope="col">Worker</th>
                  <th scope="col">State</th>
                  <th scope="col">Host</th>
                  <th scope="col">Queues (concurrency)</th>
                  <th scope="col" class="num">
                    Running
                  </th>
                  <th scope="col">Started</th>
                  <th scope="col">Heartbeat</th>
                </tr>
              </thead>
              <tbody>
                {workers.map((w) => (
                  <WorkerRow w={w} now={now} />
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Live>
    );
    if (isLiveRequest(c)) return htmlResponse(c, live);
    return htmlResponse(
      c,
      <Layout view={view} title="Workers" nav="workers">
        <h1>Workers</h1>
        {live}
      </Layout>,
    );
  });
}
