/**
 * Tasks: search with the API's filters, keyset pages (newest first, never
 * OFFSET), selection with bulk retry / cancel / delete; each bulk action
 * asks first, stating how many tasks it would change (a dry run).
 */
import type { TaskPage } from '../../../client/list-tasks.js';
import { TandemError } from '../../../errors.js';
import type { TaskRecord } from '../../../types.js';
import { type FilterInput, toTaskFilter } from '../../filters.js';
import type { Api } from '../../routes/types.js';
import { Alert } from '../components/alert.js';
import { Live } from '../components/live.js';
import { StateBadge } from '../components/state-badge.js';
import { TaskFilterForm } from '../components/task-filter-form.js';
import { Time } from '../components/time.js';
import {
  type DashboardDeps,
  href,
  htmlResponse,
  isLiveRequest,
  type View,
  viewOf,
} from '../context.js';
import { clip } from '../format.js';
import { Layout } from '../layout.js';
import { all, intOf, one, type Query, readQuery } from '../query.js';
import { FILTER_PARAMS, filterInput, filterPairs } from '../task-query.js';

/** `ids`: the tasks ticked on the page, sent by the live refresh so they stay ticked. */
const KNOWN = [...FILTER_PARAMS, 'since', 'cursor', 'limit', 'ids'];

/** Codes of bad input: the page shows the message next to the form. */
export const INPUT_ERRORS = new Set([
  'INVALID_FILTER',
  'INVALID_CURSOR',
  'INVALID_OPTIONS',
  'INVALID_ID',
  'INVALID_DURATION',
]);

function TaskRow(props: { view: View; t: TaskRecord; selected: boolean; readOnly: boolean }) {
  const { t, view } = props;
  const last = t.errors.at(-1);
  return (
    <tr>
      {!props.readOnly && (
        <td>
          <input
            type="checkbox"
            form="bulk"
            name="ids"
            value={t.id}
            id={`sel-${t.id}`}
            checked={props.selected}
            aria-label={`Select task ${t.id}`}
          />
        </td>
      )}
      <td>
        <a href={href(view.base, `/tasks/${t.id}`)}>#{t.id}</a>
      </td>
      <td class="nowrap">{t.name}</td>
      <td class="nowrap">{t.queue}</td>
      <td>
        <StateBadge state={t.state} />
      </td>
      <td class="num">
        {t.attempt}/{t.maxAttempts}
      </td>
      <td>
        {t.key ? (
          <a href={href(view.base, '/tasks', { key: t.key })}>{t.key}</a>
        ) : (
          <span class="muted">—</span>
        )}
      </td>
      <td>
        <Time at={t.createdAt} />
      </td>
      <td class="error-cell">{last ? `${last.name}: ${clip(last.message, 120)}` : ''}</td>
    </tr>
  );
}

function TaskList(props: { view: View; page: TaskPage; q: Query; selected: Set<string> }) {
  const { view, page, q } = props;
  const cursor = one(q, 'cursor');
  const keep = Object.fromEntries(Object.entries(q).filter(([k]) => k !== 'cursor'));
  return (
    <Live url={view.url} include="[name=ids]:checked">
      {page.tasks.length === 0 ? (
        <p class="empty">
          {page.nextCursor
            ? 'No matching task among the 20,000 ids read for this page; older tasks may match.'
            : 'No task matches these filters.'}
        </p>
      ) : (
        <div class="table-wrap">
          <table class="tasks">
            <caption class="visually-hidden">Tasks, newest first</caption>
            <thead>
              <tr>
                {!view.readOnly && (
                  <th scope="col">
                    <input
                      type="checkbox"
                      data-select-all
                      id="select-all"
                      aria-label="Select every task on this page"
                    />
                  </th>
                )}
                <th scope="col">Task</th>
                <th scope="col">Name</th>
                <th scope="col">Queue</th>
                <th scope="col">State</th>
                <th scope="col" class="num">
                  Attempt
                </th>
                <th scope="col">Key</th>
                <th scope="col">Created</th>
                <th scope="col">Last error</th>
              </tr>
            </thead>
            <tbody>
              {page.tasks.map((t) => (
                <TaskRow
                  view={view}
                  t={t}
                  selected={props.selected.has(t.id)}
                  readOnly={view.readOnly}
                />
              ))}
            </tbody>
          </table>
        </div>
      )}
      <nav class="pager" aria-label="Pages">
        {cursor && <a href={href(view.base, '/tasks', keep)}>« Newest</a>}
        {page.nextCursor && (
          <a href={href(view.base, '/tasks', { ...keep, cursor: page.nextCursor })} rel="next">
            Older »
          </a>
        )}
      </nav>
    </Live>
  );
}

function BulkForm(props: { view: View; input: FilterInput }) {
  const { view } = props;
  const button = (value: string, label: string, tone = '') => (
    <button type="submit" name="do" value={value} class={tone}>
      {label}
    </button>
  );
  return (
    <form
      id="bulk"
      class="bulk"
      hx-post={href(view.base, '/bulk/preview')}
      hx-target="#confirm-body"
      hx-swap="innerHTML"
      aria-label="Bulk actions"
    >
      {filterPairs(props.input).map(([k, v]) => (
        <input type="hidden" name={k} value={v} />
      ))}
      <fieldset class="bulk-group">
        <legend>
          Selected (<span data-selected-count>0</span>)
        </legend>
        {button('retry:selected', 'Retry')}
        {button('cancel:selected', 'Cancel')}
        {button('delete:selected', 'Delete', 'danger')}
      </fieldset>
      <fieldset class="bulk-group">
        <legend>Every task matching the filters</legend>
        {button('retry:filter', 'Retry all…')}
        {button('cancel:filter', 'Cancel all…')}
        {button('delete:filter', 'Delete all…', 'danger')}
      </fieldset>
    </form>
  );
}

export function tasksRoutes(app: Api, deps: DashboardDeps): void {
  app.get('/tasks', async (c) => {
    const view = viewOf(c, deps);
    let q: Query = {};
    let input: FilterInput = {};
    let page: TaskPage | null = null;
    let problem: TandemError | null = null;
    const queues = isLiveRequest(c) ? Promise.resolve([]) : deps.tandem.listQueues();
    try {
      q = readQuery(c, KNOWN, ['status', 'ids']);
      input = filterInput(q, Date.now());
      page = await deps.tandem.listTasks(toTaskFilter(input), {
        limit: intOf(q, 'limit', 1, 500, 50),
        cursor: one(q, 'cursor') ?? null,
      });
    } catch (err) {
      if (!(err instanceof TandemError && INPUT_ERRORS.has(err.code))) throw err;
      problem = err;
    }
    const selected = new Set(all(q, 'ids'));
    delete q.ids;
    view.url = href(deps.base, '/tasks', q);
    const list = page && <TaskList view={view} page={page} q={q} selected={selected} />;
    if (isLiveRequest(c))
      return htmlResponse(c, list ?? <Alert tone="error">{problem?.message}</Alert>);
    const names = [...deps.tandem.taskDefinitions.keys()].sort();
    return htmlResponse(
      c,
      <Layout view={view} title="Tasks" nav="tasks">
        <h1>Tasks</h1>
        <TaskFilterForm
          view={view}
          q={q}
          queues={(await queues).map((x) => x.name)}
          names={names}
        />
        {problem && (
          <Alert tone="error" title="These filters cannot be used:">
            {problem.message}
          </Alert>
        )}
        {page && !view.readOnly && <BulkForm view={view} input={input} />}
        {list}
      </Layout>,
      problem ? 400 : 200,
    );
  });
}
