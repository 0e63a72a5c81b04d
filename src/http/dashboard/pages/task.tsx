/**
 * One task's full story: state, payload and result as pretty JSON, every
 * attempt with its error, stack, worker and times, the timeline, its key
 * (and every task with that key), who acted on it; retry, cancel, delete.
 */
import type { OperatorAction } from '../../../client/operator-log.js';
import { toTaskId } from '../../../client/task-id.js';
import { TandemError } from '../../../errors.js';
import type { AttemptError, TaskRecord } from '../../../types.js';
import { audit } from '../../audit.js';
import type { Api } from '../../routes/types.js';
import { Alert } from '../components/alert.js';
import { JsonBlock } from '../components/json.js';
import { Live } from '../components/live.js';
import { StateBadge } from '../components/state-badge.js';
import { Time } from '../components/time.js';
import { Timeline } from '../components/timeline.js';
import {
  type DashboardDeps,
  type DashContext,
  href,
  htmlResponse,
  isLiveRequest,
  type View,
  viewOf,
} from '../context.js';
import { compactJson, duration } from '../format.js';
import { Layout } from '../layout.js';
import { readQuery } from '../query.js';

const RETRYABLE = ['failed', 'cancelled', 'succeeded'];
const CANCELLABLE = ['queued', 'retrying', 'running'];

function Actions(props: { view: View; t: TaskRecord }) {
  const { view, t } = props;
  if (view.readOnly) return null;
  const post = (what: string) => ({
    'hx-post': href(view.base, `/tasks/${t.id}/${what}`),
    'hx-target': '#flash',
    'hx-swap': 'innerHTML',
  });
  return (
    <div class="actions">
      {RETRYABLE.includes(t.state) && (
        <button type="button" id="task-retry" class="primary" {...post('retry')}>
          Retry
        </button>
      )}
      {CANCELLABLE.includes(t.state) && (
        <button
          type="button"
          id="task-cancel"
          {...post('cancel')}
          hx-confirm={`Cancel task ${t.id}?`}
        >
          Cancel
        </button>
      )}
      {t.state !== 'running' && (
        <button
          type="button"
          id="task-delete"
          class="danger"
          {...post('delete')}
          hx-confirm={`Delete task ${t.id}? This cannot be undone${t.key ? `, and its key ${t.key} becomes free` : ''}.`}
        >
          Delete
        </button>
      )}
    </div>
  );
}

function Attempt(props: { e: AttemptError }) {
  const { e } = props;
  const started = e.started_at ? new Date(e.started_at) : null;
  const ended = new Date(e.at);
  return (
    <li class="attempt">
      <div class="attempt-head">
        <strong>Attempt {e.attempt}</strong> <code>{e.name}</code>:{' '}
        <span class="error-text">{e.message}</span>
      </div>
      <dl class="inline">
        <dt>Worker</dt>
        <dd>{e.worker ?? '—'}</dd>
        <dt>Started</dt>
        <dd>
          <Time at={started} />
        </dd>
        <dt>Ended</dt>
        <dd>
          <Time at={ended} />
        </dd>
        <dt>Took</dt>
        <dd>{started ? duration(ended.getTime() - started.getTime()) : '—'}</dd>
      </dl>
      {e.stack && (
        <details>
          <summary>Stack</summary>
          <pre class="stack" tabindex={0}>
            {e.stack}
          </pre>
        </details>
      )}
    </li>
  );
}

function TaskLive(props: { view: View; t: TaskRecord; actions: OperatorAction[]; now: number }) {
  const { view, t } = props;
  return (
    <Live url={view.url}>
      <div class="page-head">
        <h1>
          Task {t.id} · {t.name} <StateBadge state={t.state} />
        </h1>
        <Actions view={view} t={t} />
      </div>
      <dl class="summary">
        <dt>Queue</dt>
        <dd>
          <a href={href(view.base, '/tasks', { queue: t.queue })}>{t.queue}</a>
        </dd>
        <dt>Key</dt>
        <dd>
          {t.key ? (
            <>
              <code>{t.key}</code> ·{' '}
              <a href={href(view.base, '/tasks', { key: t.key })}>every task with this key</a>
            </>
          ) : (
            '—'
          )}
        </dd>
        <dt>Attempt</dt>
        <dd>
          {t.attempt} of {t.maxAttempts}
        </dd>
        <dt>Priority</dt>
        <dd>{t.priority}</dd>
        <dt>Created</dt>
        <dd>
          <Time at={t.createdAt} />
        </dd>
        <dt>Run at</dt>
        <dd>
          <Time at={t.runAt} />
        </dd>
        <dt>Started</dt>
        <dd>
          <Time at={t.startedAt} />
        </dd>
        <dt>Finished</dt>
        <dd>
          <Time at={t.finishedAt} />
        </dd>
        <dt>Timeout</dt>
        <dd>{t.timeoutMs === null ? 'none' : duration(t.timeoutMs)}</dd>
        {t.owner && (
          <>
            <dt>Worker</dt>
            <dd>{t.owner}</dd>
          </>
        )}
      </dl>
      <div class="columns">
        <section aria-labelledby="h-timeline">
          <h2 id="h-timeline">Timeline</h2>
          <Timeline task={t} now={props.now} />
        </section>
        <section aria-labelledby="h-attempts">
          <h2 id="h-attempts">Failed attempts ({t.errors.length})</h2>
          {t.errors.length === 0 ? (
            <p class="empty">No attempt has failed.</p>
          ) : (
            <ol class="attempts">
              {t.errors.map((e) => (
                <Attempt e={e} />
              ))}
            </ol>
          )}
        </section>
      </div>
      <div class="columns">
        <section aria-labelledby="h-payload">
          <h2 id="h-payload">Payload</h2>
          <JsonBlock value={t.payload} label="Payload" />
        </section>
        <section aria-labelledby="h-result">
          <h2 id="h-result">Result</h2>
          {t.result === null ? (
            <p class="empty">No result.</p>
          ) : (
            <JsonBlock value={t.result} label="Result" />
          )}
        </section>
      </div>
      {t.metadata && (
        <section aria-labelledby="h-meta">
          <h2 id="h-meta">Metadata</h2>
          <JsonBlock value={t.metadata} label="Metadata" />
        </section>
      )}
      <section aria-labelledby="h-ops">
        <h2 id="h-ops">Operator actions on this task</h2>
        {props.actions.length === 0 ? (
          <p class="empty">None recorded.</p>
        ) : (
          <ul class="plain">
            {props.actions.map((a) => (
              <li>
                <Time at={a.at} /> <strong>{a.actor}</strong> {a.action}{' '}
                <span class="muted">{compactJson(a.target, 80)}</span>
              </li>
            ))}
          </ul>
        )}
      </section>
    </Live>
  );
}

async function loadTask(deps: DashboardDeps, raw: string): Promise<TaskRecord> {
  const id = toTaskId(raw);
  const t = await deps.tandem.getTask(id);
  if (!t)
    throw new TandemError(
      'TASK_NOT_FOUND',
      `there is no task ${id} (it may have been deleted or pruned)`,
    );
  return t;
}

/** Reports an action in the flash area and asks the live region to refresh now. */
function done(c: DashContext, message: string) {
  c.header('HX-Trigger', 'tandem:tick');
  return htmlResponse(c, <Alert tone="ok">{message}</Alert>);
}

export function taskRoutes(app: Api, deps: DashboardDeps): void {
  app.get('/tasks/:id', async (c) => {
    readQuery(c, []);
    const t = await loadTask(deps, c.req.param('id'));
    const { actions } = await deps.tandem.listOperatorActions({ taskId: t.id, limit: 20 });
    const view = viewOf(c, deps);
    const live = <TaskLive view={view} t={t} actions={actions} now={Date.now()} />;
    if (isLiveRequest(c)) return htmlResponse(c, live);
    return htmlResponse(
      c,
      <Layout view={view} title={`Task ${t.id}`} nav="tasks">
        {live}
      </Layout>,
    );
  });

  app.post('/tasks/:id/retry', async (c) => {
    const id = toTaskId(c.req.param('id'));
    const t = await deps.tandem.retry(id);
    await audit(deps.tandem, c, {
      action: 'retry',
      target: { ids: [id] },
      taskIds: [id],
      affected: 1,
    });
    return done(c, `Task ${id} is queued again: attempt ${t.attempt + 1} of ${t.maxAttempts}.`);
  });

  app.post('/tasks/:id/cancel', async (c) => {
    const id = toTaskId(c.req.param('id'));
    const { affected } = await deps.tandem.cancelTasks({ ids: [id] });
    if (affected === 0) {
      const t = await loadTask(deps, id);
      throw new TandemError(
        'INVALID_STATE',
        `task ${id} is ${t.state}; only queued, retrying or running tasks can be cancelled`,
      );
    }
    await audit(deps.tandem, c, {
      action: 'cancel',
      target: { ids: [id] },
      taskIds: [id],
      affected: 1,
    });
    return done(c, `Task ${id} is cancelled.`);
  });

  app.post('/tasks/:id/delete', async (c) => {
    const id = toTaskId(c.req.param('id'));
    if (!(await deps.tandem.deleteTask(id))) {
      const t = await loadTask(deps, id);
      throw new TandemError(
        'INVALID_STATE',
        `task ${id} is ${t.state}; a running task cannot be deleted (cancel it first)`,
      );
    }
    await audit(deps.tandem, c, {
      action: 'delete',
      target: { ids: [id] },
      taskIds: [id],
      affected: 1,
    });
    c.header('HX-Redirect', href(deps.base, '/tasks'));
    return htmlResponse(c, <Alert tone="ok">Task {id} is deleted.</Alert>);
  });
}
