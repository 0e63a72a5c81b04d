/**
 * Queues: live counts, paused or not, the oldest runnable task's age, the
 * concurrency the alive workers give each queue; pause and resume.
 */
import type { QueueSummary } from '../../../client/client.js';
import type { WorkerInfo } from '../../../client/fleet.js';
import type { LimitInfo, LimitsUpdate } from '../../../client/limits.js';
import { TandemError } from '../../../errors.js';
import { formatRate } from '../../../flow/options.js';
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

function LimitRow(props: { view: View; l: LimitInfo }) {
  const { view, l } = props;
  return (
    <tr>
      <th scope="row">
        {l.scope} <code>{l.name}</code>
      </th>
      <td class="num">{l.concurrency === null ? '—' : `${l.running} of ${l.concurrency}`}</td>
      <td class="num">
        {l.rate === null ? '—' : `${l.recentStarts ?? 0} of ${formatRate(l.rate)}`}
      </td>
      <td class="num">
        {l.keyed ? `${count(l.keys)} keys, ${count(l.keysAtLimit)} at limit` : '—'}
      </td>
      <td class="num">
        {[
          l.keyConcurrency === null ? null : `${l.keyConcurrency} running`,
          l.keyRate === null ? null : formatRate(l.keyRate),
        ]
          .filter(Boolean)
          .join(', ') || '—'}
        {l.keyed && <span class="muted"> ({l.keyOrder})</span>}
      </td>
      <td>{l.source === 'operator' ? <Tag tone="warn">operator</Tag> : 'definition'}</td>
      {!view.readOnly && (
        <td>
          {l.source === 'operator' && (
            <form
              hx-post={href(view.base, '/queues/limits/reset')}
              hx-target="#flash"
              hx-swap="innerHTML"
            >
              <input type="hidden" name="scope" value={l.scope} />
              <input type="hidden" name="name" value={l.name} />
              <button type="submit" aria-label={`Reset limits of ${l.scope} ${l.name}`}>
                Reset
              </button>
            </form>
          )}
        </td>
      )}
    </tr>
  );
}

function Limits(props: { view: View; limits: LimitInfo[] }) {
  const { view, limits } = props;
  return (
    <section aria-labelledby="limits-h">
      <h2 id="limits-h">Limits</h2>
      {limits.length === 0 ? (
        <p class="empty">
          No limits. Give a task definition <code>concurrency</code>, <code>rateLimit</code> or{' '}
          <code>concurrencyKey</code>, or set one here.
        </p>
      ) : (
        <div class="table-wrap">
          <table id="limits">
            <caption class="visually-hidden">Limits</caption>
            <thead>
              <tr>
                <th scope="col">Queue or task</th>
                <th scope="col" class="num">
                  Running
                </th>
                <th scope="col" class="num">
                  Starts in window
                </th>
                <th scope="col" class="num">
                  Keys
                </th>
                <th scope="col" class="num">
                  Per key
                </th>
                <th scope="col">Set by</th>
                {!view.readOnly && <th scope="col">Action</th>}
              </tr>
            </thead>
            <tbody>
              {limits.map((l) => (
                <LimitRow view={view} l={l} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      <p class="muted">
        Limits hold across every worker. What an operator sets stays until reset; then the task
        definitions apply again.
      </p>
    </section>
  );
}

function LimitForm(props: { view: View }) {
  return (
    <form
      class="limit-form"
      hx-post={href(props.view.base, '/queues/limits')}
      hx-target="#flash"
      hx-swap="innerHTML"
    >
      <label>
        Scope{' '}
        <select name="scope">
          <option value="queue">queue</option>
          <option value="task">task</option>
        </select>
      </label>{' '}
      <label>
        Name <input name="name" required placeholder="payments" />
      </label>{' '}
      <label>
        Concurrency <input name="concurrency" inputmode="numeric" placeholder="none" size={6} />
      </label>{' '}
      <label>
        Rate <input name="rate" placeholder="100/1s" size={8} />
      </label>{' '}
      <button type="submit">Set limits</button>
    </form>
  );
}

/** A form field: empty or "none" removes the limit. */
function field(v: string | undefined): string | null | undefined {
  if (v === undefined) return undefined;
  const t = v.trim();
  return t === '' || t === 'none' ? null : t;
}

export function queuesRoutes(app: Api, deps: DashboardDeps): void {
  app.get('/queues', async (c) => {
    readQuery(c, []);
    const [queues, workers, limits] = await Promise.all([
      deps.tandem.listQueues(),
      deps.tandem.listWorkers(),
      deps.tandem.listLimits(),
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
        <Limits view={view} limits={limits} />
      </Live>
    );
    if (isLiveRequest(c)) return htmlResponse(c, live);
    return htmlResponse(
      c,
      <Layout view={view} title="Queues" nav="queues">
        <h1>Queues</h1>
        {live}
        {!view.readOnly && <LimitForm view={view} />}
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

  app.post('/queues/limits', async (c) => {
    const form = await readForm(c);
    const scope = one(form, 'scope');
    const name = one(form, 'name');
    if ((scope !== 'queue' && scope !== 'task') || !name)
      throw new TandemError('INVALID_LIMIT', 'choose queue or task, and name it');
    const update: LimitsUpdate = {};
    const conc = field(one(form, 'concurrency'));
    if (conc !== undefined) {
      if (conc !== null && !/^\d+$/.test(conc))
        throw new TandemError(
          'INVALID_LIMIT',
          `concurrency must be a whole number, got ${JSON.stringify(conc)}`,
        );
      update.concurrency = conc === null ? null : Number(conc);
    }
    const rate = field(one(form, 'rate'));
    if (rate !== undefined) update.rateLimit = rate;
    const target = scope === 'queue' ? { queue: name } : { task: name };
    const l = await deps.tandem.setLimits(target, update);
    await audit(deps.tandem, c, {
      action: 'set-limits',
      target: { [scope]: name, concurrency: l.concurrency, rate: formatRate(l.rate) },
      affected: 1,
    });
    c.header('HX-Trigger', 'tandem:tick');
    return htmlResponse(
      c,
      <Alert tone="ok">
        Limits of {scope} {name}: concurrency {l.concurrency ?? 'none'}, rate{' '}
        {formatRate(l.rate) ?? 'none'}.
      </Alert>,
    );
  });

  app.post('/queues/limits/reset', async (c) => {
    const form = await readForm(c);
    const scope = one(form, 'scope');
    const name = one(form, 'name');
    if ((scope !== 'queue' && scope !== 'task') || !name)
      throw new TandemError('INVALID_LIMIT', 'choose queue or task, and name it');
    const had = await deps.tandem.resetLimits(scope === 'queue' ? { queue: name } : { task: name });
    await audit(deps.tandem, c, {
      action: 'reset-limits',
      target: { [scope]: name },
      affected: had ? 1 : 0,
    });
    c.header('HX-Trigger', 'tandem:tick');
    return htmlResponse(
      c,
      <Alert tone="ok">
        {had ? `Limits of ${scope} ${name} reset to the definitions.` : `Nothing to reset.`}
      </Alert>,
    );
  });
}
