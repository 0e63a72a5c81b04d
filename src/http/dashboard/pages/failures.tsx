/**
 * Failures: the latest failed tasks grouped by task name and last error,
 * with counts, first and last seen, a sample payload, a link to the tasks
 * of the group, and "retry this group" (a redrive, confirmed with its count).
 */
import type { FailureGroup } from '../../../client/failures.js';
import { FAILURES_SCANNED } from '../../../client/failures.js';
import type { Api } from '../../routes/types.js';
import { JsonBlock } from '../components/json.js';
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
import { count } from '../format.js';
import { Layout } from '../layout.js';
import { one, readQuery } from '../query.js';

function groupQuery(g: FailureGroup): Record<string, string> {
  return {
    status: 'failed',
    name: g.name,
    ...(g.message !== null && { last_error: g.message }),
  };
}

function Group(props: { view: View; g: FailureGroup; i: number }) {
  const { view, g } = props;
  const q = groupQuery(g);
  return (
    <article class="group" aria-labelledby={`g-${props.i}`}>
      <header>
        <h2 id={`g-${props.i}`}>
          <span class="count-pill">{count(g.count)}</span> {g.name}
        </h2>
        <p class="error-text">
          <code>{g.errorName ?? 'Error'}</code>: {g.message ?? '(no message)'}
        </p>
      </header>
      <dl class="inline">
        <dt>First seen</dt>
        <dd>
          <Time at={g.firstSeen} />
        </dd>
        <dt>Last seen</dt>
        <dd>
          <Time at={g.lastSeen} />
        </dd>
        <dt>Sample</dt>
        <dd>
          <a href={href(view.base, `/tasks/${g.sampleId}`)}>task {g.sampleId}</a>
        </dd>
      </dl>
      <details>
        <summary>Sample payload</summary>
        <JsonBlock value={g.samplePayload} label={`Sample payload of ${g.name}`} max={4000} />
      </details>
      <div class="actions">
        <a href={href(view.base, '/tasks', q)}>See these tasks</a>
        {!view.readOnly && (
          <form
            class="inline-form"
            hx-post={href(view.base, '/bulk/preview')}
            hx-target="#confirm-body"
            hx-swap="innerHTML"
          >
            {Object.entries(q).map(([k, v]) => (
              <input type="hidden" name={k} value={v} />
            ))}
            <button type="submit" name="do" value="retry:filter" id={`retry-group-${props.i}`}>
              Retry this group…
            </button>
          </form>
        )}
      </div>
    </article>
  );
}

export function failuresRoutes(app: Api, deps: DashboardDeps): void {
  app.get('/failures', async (c) => {
    const q = readQuery(c, ['name']);
    const name = one(q, 'name');
    const { groups, scanned, truncated } = await deps.tandem.failureGroups({
      ...(name !== undefined && { name }),
      limit: 100,
    });
    const view = viewOf(c, deps);
    const live = (
      <Live url={view.url}>
        <p class="muted">
          {truncated
            ? `Grouped from the ${count(FAILURES_SCANNED)} most recent failed tasks.`
            : `${count(scanned)} failed task${scanned === 1 ? '' : 's'}, grouped by task and last error.`}
        </p>
        {groups.length === 0 ? (
          <p class="empty">No failed tasks{name ? ` named ${name}` : ''}.</p>
        ) : (
          groups.map((g, i) => <Group view={view} g={g} i={i} />)
        )}
      </Live>
    );
    if (isLiveRequest(c)) return htmlResponse(c, live);
    return htmlResponse(
      c,
      <Layout view={view} title="Failures" nav="failures">
        <h1>Failures{name ? ` of ${name}` : ''}</h1>
        {live}
      </Layout>,
    );
  });
}
