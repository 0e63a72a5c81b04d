/** The tasks page's filter form: a GET form, so every filtered view is a link. */
import { TASK_STATES } from '../../../client/task-filter.js';
import { href, type View } from '../context.js';
import { all, one, type Query } from '../query.js';
import { SINCE } from '../task-query.js';

function Field(props: {
  name: string;
  label: string;
  q: Query;
  placeholder?: string;
  hint?: string;
  list?: string;
}) {
  const id = `f-${props.name}`;
  return (
    <div class="field">
      <label for={id}>{props.label}</label>
      <input
        id={id}
        name={props.name}
        value={one(props.q, props.name) ?? ''}
        {...(props.placeholder && { placeholder: props.placeholder })}
        {...(props.list && { list: props.list })}
        {...(props.hint && { 'aria-describedby': `${id}-hint` })}
        autocomplete="off"
      />
      {props.hint && (
        <small id={`${id}-hint`} class="muted">
          {props.hint}
        </small>
      )}
    </div>
  );
}

export function TaskFilterForm(props: { view: View; q: Query; queues: string[]; names: string[] }) {
  const { q } = props;
  const states = all(q, 'status').flatMap((s) => s.split(','));
  const queue = one(q, 'queue');
  const queues = queue && !props.queues.includes(queue) ? [...props.queues, queue] : props.queues;
  const since = one(q, 'since') ?? '';
  const more = [
    'key_prefix',
    'last_error',
    'created_after',
    'created_before',
    'finished_after',
    'finished_before',
  ];
  return (
    <form
      class="filters"
      method="get"
      action={href(props.view.base, '/tasks')}
      aria-label="Filter tasks"
    >
      <fieldset class="states">
        <legend>State</legend>
        {TASK_STATES.map((s) => (
          <label class="check">
            <input type="checkbox" name="status" value={s} checked={states.includes(s)} /> {s}
          </label>
        ))}
      </fieldset>
      <div class="field-row">
        <div class="field">
          <label for="f-queue">Queue</label>
          <select id="f-queue" name="queue">
            <option value="">any queue</option>
            {queues.map((name) => (
              <option value={name} selected={name === queue}>
                {name}
              </option>
            ))}
          </select>
        </div>
        <Field name="name" label="Task name" q={q} list="task-names" />
        <datalist id="task-names">
          {props.names.map((n) => (
            <option value={n} />
          ))}
        </datalist>
        <Field name="key" label="Key" q={q} placeholder="order:123" />
        <Field
          name="payload"
          label="Payload contains"
          q={q}
          placeholder='{"orderId":42}'
          hint="JSON"
        />
        <Field name="error" label="Error text" q={q} placeholder="timed out" />
        <div class="field">
          <label for="f-since">Created</label>
          <select id="f-since" name="since">
            <option value="">at any time</option>
            {Object.entries(SINCE).map(([k, v]) => (
              <option value={k} selected={k === since}>
                {v.label}
              </option>
            ))}
          </select>
        </div>
      </div>
      <details open={more.some((k) => q[k] !== undefined)}>
        <summary>More filters</summary>
        <div class="field-row">
          <Field name="key_prefix" label="Key starts with" q={q} placeholder="order:" />
          <Field name="last_error" label="Last error, exactly" q={q} />
          <Field
            name="created_after"
            label="Created after"
            q={q}
            placeholder="2026-12-01T09:00Z"
            hint="ISO 8601"
          />
          <Field
            name="created_before"
            label="Created before"
            q={q}
            placeholder="2026-12-01T10:00Z"
            hint="ISO 8601"
          />
          <Field name="finished_after" label="Finished after" q={q} hint="ISO 8601" />
          <Field name="finished_before" label="Finished before" q={q} hint="ISO 8601" />
        </div>
      </details>
      <div class="actions">
        <button type="submit" class="primary">
          Apply filters
        </button>{' '}
        <a href={href(props.view.base, '/tasks')}>Clear</a>
      </div>
    </form>
  );
}
