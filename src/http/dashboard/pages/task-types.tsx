/**
 * Task types: the registry's definitions (queue, attempts, timeout, limits,
 * concurrency key, versions, payload schema), and the waiting tasks of names
 * nobody registered.
 */
import type { ResolvedRate } from '../../../flow/options.js';
import type { Api } from '../../routes/types.js';
import { JsonBlock } from '../components/json.js';
import { Live } from '../components/live.js';
import { Time } from '../components/time.js';
import { type DashboardDeps, href, htmlResponse, isLiveRequest, viewOf } from '../context.js';
import { count, duration } from '../format.js';
import { Layout } from '../layout.js';
import { readQuery } from '../query.js';

const rate = (r: ResolvedRate | null) => (r ? `${r.limit}/${duration(r.perMs)}` : null);

function limitsText(l: { concurrency: number | null; rate: ResolvedRate | null }): string {
  const parts = [
    l.concurrency !== null && `${l.concurrency} at once`,
    rate(l.rate) && `${rate(l.rate)}`,
  ].filter(Boolean);
  return parts.length ? parts.join(', ') : '—';
}

export function taskTypesRoutes(app: Api, deps: DashboardDeps): void {
  app.get('/task-types', async (c) => {
    readQuery(c, []);
    const [types, unregistered] = await Promise.all([
      deps.tandem.listTaskTypes(),
      deps.tandem.listUnregisteredTasks(),
    ]);
    const view = viewOf(c, deps);
    const live = (
      <Live url={view.url}>
        {unregistered.length > 0 && (
          <section aria-labelledby="unregistered">
            <h2 id="unregistered">Waiting tasks of unregistered names</h2>
            <p>
              No worker has registered these names: check the spelling, or deploy their workers.
              Registering a name moves its waiting tasks to its definition's queue.
            </p>
            <div class="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Queue</th>
                    <th scope="col">Waiting</th>
                    <th scope="col">Oldest</th>
                  </tr>
                </thead>
                <tbody>
                  {unregistered.map((u) => (
                    <tr>
                      <th scope="row">
                        <a href={href(view.base, '/tasks', { name: u.name })}>{u.name}</a>
                      </th>
                      <td>{u.queue}</td>
                      <td>{count(u.waiting)}</td>
                      <td>
                        <Time at={u.oldestCreatedAt} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </section>
        )}
        {types.length === 0 ? (
          <p class="empty">
            No task type is registered yet: workers register their definitions when they start.
          </p>
        ) : (
          <div class="table-wrap">
            <table>
              <caption class="visually-hidden">Registered task types</caption>
              <thead>
                <tr>
                  <th scope="col">Task</th>
                  <th scope="col">Queue</th>
                  <th scope="col">Attempts</th>
                  <th scope="col">Timeout</th>
                  <th scope="col">Limits</th>
                  <th scope="col">Concurrency key</th>
                  <th scope="col">Version</th>
                  <th scope="col">Last registered</th>
                </tr>
              </thead>
              <tbody>
                {types.map((t) => {
                  const live = t.versions.filter((v) => v.liveWorkers.length > 0);
                  return (
                    <tr>
                      <th scope="row">
                        <a href={href(view.base, '/tasks', { name: t.name })}>{t.name}</a>
                        {t.payloadSchema && (
                          <details>
                            <summary>Payload schema</summary>
                            <JsonBlock value={t.payloadSchema} label={`${t.name} payload schema`} />
                          </details>
                        )}
                      </th>
                      <td>{t.queue}</td>
                      <td>{t.maxAttempts}</td>
                      <td>{t.timeoutMs === null ? '—' : duration(t.timeoutMs)}</td>
                      <td>
                        {limitsText(t.limits)}
                        {t.keyKind !== 'none' && ` · per key: ${limitsText(t.keyLimits)}`}
                      </td>
                      <td>
                        {t.keyKind === 'template' ? (
                          <code>{t.keyTemplate}</code>
                        ) : t.keyKind === 'function' ? (
                          'function'
                        ) : (
                          '—'
                        )}
                      </td>
                      <td>
                        <code title={t.hash}>{t.hash.slice(0, 8)}</code>
                        {live.length > 1 && (
                          <strong>
                            {' '}
                            {live.length} versions running:{' '}
                            {live
                              .map((v) => `${v.hash.slice(0, 8)} (${v.liveWorkers.length})`)
                              .join(', ')}
                          </strong>
                        )}
                      </td>
                      <td>
                        <Time at={t.lastSeenAt} />
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
      </Live>
    );
    if (isLiveRequest(c)) return htmlResponse(c, live);
    return htmlResponse(
      c,
      <Layout view={view} title="Task types" nav="task-types">
        <h1>Task types</h1>
        {live}
      </Layout>,
    );
  });
}
