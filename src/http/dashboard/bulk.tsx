/**
 * Bulk retry / cancel / delete from the dashboard, by ticked ids or by the
 * filter on screen. Two steps: a preview counts what the action would
 * change (a dry run of the same library call) and asks in a dialog that
 * states the count; the confirmation runs it, records it in the operator
 * log and refreshes the page's live region.
 */
import type { BulkResult, BulkTarget } from '../../client/bulk.js';
import { TandemError } from '../../errors.js';
import { audit } from '../audit.js';
import { toTaskFilter } from '../filters.js';
import type { Api } from '../routes/types.js';
import { Alert } from './components/alert.js';
import { type DashboardDeps, type DashContext, href, htmlResponse } from './context.js';
import { count } from './format.js';
import { all, one, type Query, readForm } from './query.js';
import { filterInput, filterPairs } from './task-query.js';

type Action = 'retry' | 'cancel' | 'delete';

const ACTIONS: Record<Action, { verb: string; past: string; explain: string }> = {
  retry: {
    verb: 'Retry',
    past: 'Retried',
    explain:
      'Each runs again with one more attempt. Tasks that are not failed, cancelled or succeeded are skipped.',
  },
  cancel: {
    verb: 'Cancel',
    past: 'Cancelled',
    explain:
      'Queued and retrying tasks end at once; running ones have their signal aborted. Finished tasks are skipped.',
  },
  delete: {
    verb: 'Delete',
    past: 'Deleted',
    explain:
      'Deleted tasks are gone for good and their keys become free. Running tasks are skipped.',
  },
};

interface Bulk {
  action: Action;
  scope: 'selected' | 'filter';
  target: BulkTarget;
  /** The form fields that say the same again (for the confirmation). */
  fields: [string, string][];
  /** What the operator log records as the target. */
  recorded: Record<string, unknown>;
}

function parseBulk(form: Query): Bulk {
  const what = one(form, 'do') ?? '';
  const m = /^(retry|cancel|delete):(selected|filter)$/.exec(what);
  if (!m)
    throw new TandemError(
      'INVALID_OPTIONS',
      `do must be retry, cancel or delete, then :selected or :filter (e.g. retry:selected), got ${JSON.stringify(what.slice(0, 50))}`,
    );
  const action = m[1] as Action;
  const scope = m[2] as Bulk['scope'];
  if (scope === 'selected') {
    const ids = all(form, 'ids');
    if (ids.length === 0)
      throw new TandemError(
        'INVALID_OPTIONS',
        'no task is selected: tick the tasks first, or act on all matching',
      );
    return {
      action,
      scope,
      target: { ids },
      fields: [['do', what], ...ids.map((id): [string, string] => ['ids', id])],
      recorded: { ids },
    };
  }
  const input = filterInput(form, Date.now());
  const pairs = filterPairs(input);
  return {
    action,
    scope,
    target: { filter: toTaskFilter(input) },
    fields: [['do', what], ...pairs],
    recorded: { filter: input },
  };
}

function run(deps: DashboardDeps, b: Bulk, dryRun: boolean): Promise<BulkResult> {
  const call = { retry: 'retryTasks', cancel: 'cancelTasks', delete: 'deleteTasks' } as const;
  return deps.tandem[call[b.action]](b.target, { dryRun });
}

function describe(b: Bulk): string {
  if (b.scope === 'selected') {
    const ids = (b.target as { ids: string[] }).ids;
    return `the ${count(ids.length)} selected task${ids.length === 1 ? '' : 's'}`;
  }
  const shown = b.fields
    .filter(([k]) => k !== 'do')
    .map(([k, v]) => `${k} = ${v.length > 80 ? `${v.slice(0, 79)}…` : v}`);
  return `every task matching ${shown.join(', ')}`;
}

export function bulkRoutes(app: Api, deps: DashboardDeps): void {
  app.post('/bulk/preview', async (c) => {
    const b = parseBulk(await readForm(c));
    const { affected } = await run(deps, b, true);
    const a = ACTIONS[b.action];
    const n = `${count(affected)} task${affected === 1 ? '' : 's'}`;
    return htmlResponse(
      c,
      <div class="confirm">
        <h2 id="confirm-title">{affected === 0 ? `Nothing to ${b.action}` : `${a.verb} ${n}?`}</h2>
        <p>
          {affected === 0
            ? `None of ${describe(b)} can be ${a.past.toLowerCase()} now.`
            : `This applies to ${n}: ${describe(b)}. ${a.explain}`}
        </p>
        <form hx-post={href(deps.base, '/bulk')} hx-target="#flash" hx-swap="innerHTML">
          {b.fields.map(([k, v]) => (
            <input type="hidden" name={k} value={v} />
          ))}
          <div class="actions">
            {affected > 0 && (
              <button type="submit" class={b.action === 'retry' ? 'primary' : 'danger'}>
                {a.verb} {n}
              </button>
            )}{' '}
            <button type="button" data-close-dialog autofocus>
              {affected > 0 ? 'Keep them' : 'Close'}
            </button>
          </div>
        </form>
      </div>,
    );
  });

  app.post('/bulk', async (c: DashContext) => {
    const b = parseBulk(await readForm(c));
    const result = await run(deps, b, false);
    await audit(deps.tandem, c, {
      action: `bulk-${b.action}`,
      target: b.recorded,
      taskIds: result.ids,
      affected: result.affected,
    });
    c.header('HX-Trigger', JSON.stringify({ 'tandem:tick': null, 'tandem:close-dialog': null }));
    const n = `${count(result.affected)} task${result.affected === 1 ? '' : 's'}`;
    return htmlResponse(c, <Alert tone="ok">{`${ACTIONS[b.action].past} ${n}.`}</Alert>);
  });
}
