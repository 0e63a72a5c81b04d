/**
 * A task's story in order: created, due, every attempt (from its recorded
 * error, or the task's own start and finish for the last one), finished;
 * with the time each step took.
 */
import type { AttemptError, TaskRecord } from '../../../types.js';
import { clip, duration } from '../format.js';
import { Time } from './time.js';

export interface Step {
  label: string;
  at: Date | null;
  /** The step's own length (an attempt's run time). */
  tookMs?: number | null;
  detail?: string;
  tone: 'neutral' | 'ok' | 'bad' | 'warn' | 'run';
}

const date = (s: string | null | undefined): Date | null => {
  if (!s) return null;
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? null : d;
};

function errorStep(e: AttemptError): Step {
  const started = date(e.started_at);
  const ended = date(e.at);
  const lost = e.name === 'WorkerLostError';
  return {
    label: `Attempt ${e.attempt} ${lost ? 'lost' : 'failed'}`,
    at: started ?? ended,
    tookMs: started && ended ? ended.getTime() - started.getTime() : null,
    detail: `${e.name}: ${clip(e.message, 200)}${e.worker ? ` (worker ${e.worker})` : ''}`,
    tone: lost ? 'warn' : 'bad',
  };
}

/** The steps of a task's timeline, oldest first. */
export function timelineSteps(t: TaskRecord, now = Date.now()): Step[] {
  const steps: Step[] = [{ label: 'Created', at: t.createdAt, tone: 'neutral' }];
  if (t.errors.length === 0 && t.runAt.getTime() - t.createdAt.getTime() > 1000)
    steps.push({ label: 'Due', at: t.runAt, tone: 'neutral' });
  const first = t.errors[0]?.attempt ?? 1;
  if (first > 1)
    steps.push({
      label: `Attempts 1–${first - 1} not kept`,
      at: null,
      tone: 'neutral',
      detail: 'a task keeps its first and latest 25 errors',
    });
  for (const e of t.errors) steps.push(errorStep(e));
  // The current or last attempt, when no error describes it.
  const lastErrorAt = date(t.errors.at(-1)?.at)?.getTime() ?? 0;
  const startedAfterError = t.startedAt !== null && t.startedAt.getTime() > lastErrorAt;
  if (t.state === 'running' && t.startedAt) {
    steps.push({
      label: `Attempt ${t.attempt} running`,
      at: t.startedAt,
      tookMs: now - t.startedAt.getTime(),
      tone: 'run',
      ...(t.owner && { detail: `on worker ${t.owner}` }),
    });
  } else if (t.state === 'succeeded' && t.startedAt && startedAfterError) {
    steps.push({
      label: `Attempt ${t.attempt} succeeded`,
      at: t.startedAt,
      tookMs: t.finishedAt ? t.finishedAt.getTime() - t.startedAt.getTime() : null,
      tone: 'ok',
    });
  } else if (t.state === 'cancelled' && t.startedAt && startedAfterError) {
    steps.push({
      label: `Attempt ${t.attempt} cancelled while running`,
      at: t.startedAt,
      tone: 'warn',
    });
  }
  if (t.state === 'retrying' || (t.state === 'queued' && t.errors.length > 0))
    steps.push({ label: 'Next attempt due', at: t.runAt, tone: 'warn' });
  if (t.finishedAt) {
    steps.push({
      label: `Finished: ${t.state}`,
      at: t.finishedAt,
      detail: `${duration(t.finishedAt.getTime() - t.createdAt.getTime())} after it was created`,
      tone: t.state === 'succeeded' ? 'ok' : t.state === 'failed' ? 'bad' : 'warn',
    });
  }
  return steps;
}

/**
 * The timeline as an ordered list. Each step says how long after the end of
 * the previous one it began (the wait: run_at, backoff, queueing) and, for
 * attempts, how long it ran.
 */
export function Timeline(props: { task: TaskRecord; now?: number }) {
  const steps = timelineSteps(props.task, props.now);
  let prevEnd: number | null = null;
  return (
    <ol class="timeline">
      {steps.map((s) => {
        const at = s.at?.getTime() ?? null;
        const waited = at !== null && prevEnd !== null ? at - prevEnd : null;
        if (at !== null) prevEnd = at + (s.tookMs ?? 0);
        return (
          <li class={`step step-${s.tone}`}>
            <span class="step-label">{s.label}</span> <Time at={s.at} />
            {waited !== null && waited >= 1 && (
              <span class="muted"> · after {duration(waited)}</span>
            )}
            {s.tookMs !== undefined && s.tookMs !== null && (
              <span class="took"> · ran {duration(s.tookMs)}</span>
            )}
            {s.detail && <div class="step-detail">{s.detail}</div>}
          </li>
        );
      })}
    </ol>
  );
}
