/**
 * Queues: live counts, paused or not, the oldest runnable task's age, the
 * concurrency the alive workers give each queue; pause and resume.
 */
import type { QueueSummary } from '../../../client/client.js';
import type { WorkerInfo } from '../../../client/fleet.js';
import { TandemError } from '../../../errors.js';
import { audit } from '../../audit.js';
import type { Api } from '../../routes/types.js';
import { Alert } from '../components/alert.js';
import { Live } from '../components/live.js';
import { Tag } from '../components/state-badge.js';
import { Time } from '../components/time.js';
import {
  type DashboardDeps,
  href,
  htmlResponse,
  isLiveRequest,
  type View,
  viewOf,
} from '../context.js';
import { count, domId, duration } from '../format.js';
import { Layout } from '../layout.js';
import { one, readForm, readQuery } from '../query.js';

function concurrency(workers: WorkerInfo[], queue: string): { slots: number; workers: number } {
  let slots = 0;
  let n = 0;
  for (const w of workers) {
    const c = w.alive ? w.queues[queue] : undefined;
    if (c === undefined) continue;
    slots += c;
    n++;
  }
  return { slots, workers: n };
}

function QueueRow(props: { view: View; q: QueueSummary; workers: WorkerInfo[]; now: number }) {
  const { view, q } = props;
  const c = concurrency(props.workers, q.name);
  const age = q.oldestRunnableAt ? Math.max(0, props.now - q.oldestRunnableAt.getTime()) : null;
  const what = q.paused ? 'resume' : 'pause';
  return (
    <tr>
      <th scope="row">
        <a href={href(view.base, '/tasks', { queue: q.name })}>{q.name}</a>
      </th>
      <td>
        {q.paused ? (
          <>
            <Tag tone="warn">paused</Tag> <span class="muted">since</span> <Time at={q.pausedAt} />
          </>
        ) : (
          <Tag tone="ok">running</Tag>
        )}
      </td>
      <td class="num">{count(q.queued)}</td>
      <td class="num">{count(q.running)}</td>
      <td class="num">{count(q.retrying)}</td>
      <td class="num">{age === null ? '—' : duration(age)}</td>
      <td class="num">
        {c.workers === 0 ? (
          <span class="muted">no worker</span>
        ) : (
          `${c.slots} on ${c.workers} worker${c.workers === 1 ? '' : 's'}`
        )}
      </td>
      {!view.readOnly && (
        <td>
          <form hx-post={href(view.base, `/queues/${what}`)} hx-target="#flash" hx-swap="innerHTML">
            <input type="hidden" name="name" value={q.name} />
            <button
              type="submit"
              id={domId('toggle', q.name)}
              aria-label={`${what === 'pause' ? 'Pause' : 'Resume'} queue ${q.name}`}
            >
              {what === 'pause' ? 'Pause' : 'Resume'}
            </button>
          </form>
        </td>
      )}
    </tr>
  );
}

export function queuesRoutes(app: Api, deps: DashboardDeps): void {
  app.get('/queues', async (c) => {
    readQuery(c, []);
    const [queues, workers] = await Promise.all([
      deps.tandem.listQueues(),
      deps.tandem.listWorkers(),
    ]);
    const view = viewOf(c, deps);
    const now = Date.now();
    const live = (
      <Live url={view.url}>
        {queues.length === 0 ? (
          <p class="empty">No queues yet: a queue appears with its first task.</p>
        ) : (
          <div class="table-wrap">
            <table>
              <caption class="visually-hidden">Queues</caption>
              <thead>
                <tr>
                  <th scope="col">Queue</th>
                  <th scope="col">State</th>
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
                    Oldest runnable
                  </th>
                  <th scope="col" class="num">
                    Concurrency
                  </th>
                  {!view.readOnly && <th scope="col">Action</th>}
                </tr>
              </thead>
              <tbody>
                {queues.map((q) => (
                  <QueueRow view={view} q={q} workers={workers} now={now} />
                ))}
              </tbody>
            </table>
          </div>
        )}
        <p class="muted">
          Concurrency is what the alive workers run of each queue at once (their{' '}
          <code>--queues</code>). Pausing stops every worker from starting tasks of the queue within
          a second; running tasks finish.
        </p>
      </Live>
    );
    if (isLiveRequest(c)) return htmlResponse(c, live);
    return htmlResponse(
      c,
      <Layout view={view} title="Queues" nav="queues">
        <h1>Queues</h1>
        {live}
      </Layout>,
    );
  });

  for (const what of ['pause', 'resume'] as const) {
    app.post(`/queues/${what}`, async (c) => {
      const name = one(await readForm(c), 'name');
      if (name === undefined)
        throw new TandemError('INVALID_OPTIONS', `name the queue to ${what} (a name field)`);
      if (what === 'pause') await deps.tandem.pauseQueue(name);
      else await deps.tandem.resumeQueue(name);
      await audit(deps.tandem, c, { action: what, target: { queue: name }, affected: 1 });
      c.header('HX-Trigger', 'tandem:tick');
      return htmlResponse(
        c,
        <Alert tone="ok">
          {what === 'pause' ? `Queue ${name} is paused.` : `Queue ${name} is running again.`}
        </Alert>,
      );
    });
  }
}
