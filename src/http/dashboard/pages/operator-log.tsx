/** Operator log: who did what, when, to which tasks, from tandem.operator_actions. */
import type { OperatorAction } from '../../../client/operator-log.js';
import type { Api } from '../../routes/types.js';
import { Live } from '../components/live.js';
import { Time } from '../components/time.js';
import {
  type DashboardDeps,
  href,
  htmlResponse,
  isLiveRequest,
  type View,
  viewOf,
} from '../context.js';
import { compactJson, count } from '../format.js';
import { Layout } from '../layout.js';
import { intOf, one, type Query, readQuery } from '../query.js';

const SHOWN_IDS = 5;

function ActionRow(props: { view: View; a: OperatorAction }) {
  const { view, a } = props;
  const req = a.request as { method?: string; path?: string; remote_address?: string } | null;
  return (
    <tr>
      <td>
        <Time at={a.at} />
      </td>
      <td>
        <a href={href(view.base, '/log', { actor: a.actor })}>{a.actor}</a>
      </td>
      <td class="nowrap">
        <a href={href(view.base, '/log', { action: a.action })}>{a.action}</a>
      </td>
      <td class="num">{count(a.affected)}</td>
      <td>
        <code class="wrap">{compactJson(a.target, 160)}</code>
        {a.taskIds.length > 0 && (
          <div>
            {a.taskIds.slice(0, SHOWN_IDS).map((id) => (
              <>
                <a href={href(view.base, `/tasks/${id}`)}>#{id}</a>{' '}
              </>
            ))}
            {a.taskIds.length > SHOWN_IDS && (
              <span class="muted">and {count(a.taskIds.length - SHOWN_IDS)} more</span>
            )}
          </div>
        )}
      </td>
      <td class="muted">
        {req
          ? `${req.method ?? ''} ${req.path ?? ''}${req.remote_address ? ` from ${req.remote_address}` : ''}`
          : 'CLI'}
      </td>
    </tr>
  );
}

function Filters(props: { view: View; q: Query }) {
  const field = (name: string, label: string) => (
    <div class="field">
      <label for={`f-${name}`}>{label}</label>
      <input id={`f-${name}`} name={name} value={one(props.q, name) ?? ''} autocomplete="off" />
    </div>
  );
  return (
    <form
      class="filters"
      method="get"
      action={href(props.view.base, '/log')}
      aria-label="Filter the log"
    >
      <div class="field-row">
        {field('actor', 'Who')}
        {field('action', 'Action')}
        {field('task_id', 'Task id')}
      </div>
      <div class="actions">
        <button type="submit" class="primary">
          Apply filters
        </button>{' '}
        <a href={href(props.view.base, '/log')}>Clear</a>
      </div>
    </form>
  );
}

export function operatorLogRoutes(app: Api, deps: DashboardDeps): void {
  app.get('/log', async (c) => {
    const q = readQuery(c, ['actor', 'action', 'task_id', 'cursor', 'limit']);
    const taskId = one(q, 'task_id');
    const actor = one(q, 'actor');
    const action = one(q, 'action');
    const { actions, nextCursor } = await deps.tandem.listOperatorActions({
      ...(actor !== undefined && { actor }),
      ...(action !== undefined && { action }),
      ...(taskId !== undefined && { taskId }),
      limit: intOf(q, 'limit', 1, 500, 50),
      cursor: one(q, 'cursor') ?? null,
    });
    const view = viewOf(c, deps);
    const keep = Object.fromEntries(Object.entries(q).filter(([k]) => k !== 'cursor'));
    const live = (
      <Live url={view.url}>
        {actions.length === 0 ? (
          <p class="empty">
            No operator action recorded{Object.keys(keep).length ? ' for these filters' : ''}.
          </p>
        ) : (
          <div class="table-wrap">
            <table>
              <caption class="visually-hidden">Operator actions, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">When</th>
                  <th scope="col">Who</th>
                  <th scope="col">Action</th>
                  <th scope="col" class="num">
                    Tasks
                  </th>
                  <th scope="col">Target</th>
                  <th scope="col">Request</th>
                </tr>
              </thead>
              <tbody>
                {actions.map((a) => (
                  <ActionRow view={view} a={a} />
                ))}
              </tbody>
            </table>
          </div>
        )}
        <nav class="pager" aria-label="Pages">
          {one(q, 'cursor') && <a href={href(view.base, '/log', keep)}>« Newest</a>}
          {nextCursor && (
            <a href={href(view.base, '/log', { ...keep, cursor: nextCursor })} rel="next">
              Older »
            </a>
          )}
        </nav>
      </Live>
    );
    if (isLiveRequest(c)) return htmlResponse(c, live);
    return htmlResponse(
      c,
      <Layout view={view} title="Operator log" nav="log">
        <h1>Operator log</h1>
        <Filters view={view} q={q} />
        {live}
      </Layout>,
    );
  });
}
