/** Schedules: cron expression, time zone, task, last and next tick, as the leader records them. */
import type { Api } from '../../routes/types.js';
import { Live } from '../components/live.js';
import { Time } from '../components/time.js';
import { type DashboardDeps, href, htmlResponse, isLiveRequest, viewOf } from '../context.js';
import { Layout } from '../layout.js';
import { readQuery } from '../query.js';

export function schedulesRoutes(app: Api, deps: DashboardDeps): void {
  app.get('/schedules', async (c) => {
    readQuery(c, []);
    const schedules = await deps.tandem.listSchedules();
    const view = viewOf(c, deps);
    const live = (
      <Live url={view.url}>
        {schedules.length === 0 ? (
          <p class="empty">
            No schedule has fired yet: workers record their cron schedules as they run them.
          </p>
        ) : (
          <div class="table-wrap">
            <table>
              <caption class="visually-hidden">Cron schedules</caption>
              <thead>
                <tr>
                  <th scope="col">Schedule</th>
                  <th scope="col">Cron</th>
                  <th scope="col">Time zone</th>
                  <th scope="col">Task</th>
                  <th scope="col">Last tick</th>
                  <th scope="col">Next tick</th>
                </tr>
              </thead>
              <tbody>
                {schedules.map((s) => (
                  <tr>
                    <th scope="row">{s.name}</th>
                    <td>
                      <code>{s.cron ?? '—'}</code>
                    </td>
                    <td>{s.timezone ?? 'UTC'}</td>
                    <td>
                      {s.task ? (
                        <a href={href(view.base, '/tasks', { name: s.task })}>{s.task}</a>
                      ) : (
                        '—'
                      )}
                    </td>
                    <td>
                      <Time at={s.lastTick} />
                    </td>
                    <td>
                      <Time at={s.nextTick} />
                    </td>
                  </tr>
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
      <Layout view={view} title="Schedules" nav="schedules">
        <h1>Schedules</h1>
        {live}
      </Layout>,
    );
  });
}
