import type { Queryable } from '../db/executor.js';
import { taskGetMany, taskStatesOf } from '../db/queries/waits.js';
import { type TaskRow, toTaskRecord } from '../db/rows.js';
import { toMs } from '../duration.js';
import { TandemError } from '../errors.js';
import type { Duration, TaskRecord } from '../types.js';
import { toTaskId } from './task-id.js';

export interface WaitOptions {
  /** Give up after this long (TIMEOUT). Default: wait until finished or aborted. */
  timeout?: Duration;
  /** Abort the wait (rejects with the signal's reason). */
  signal?: AbortSignal;
}

interface Waiter {
  resolve(task: TaskRecord): void;
  reject(err: unknown): void;
}

/** How often the shared poll looks at the waited-for tasks. */
const POLL_MS = 150;
/** A new waiter's first look comes at once, but never sooner than this after the last poll. */
const MIN_GAP_MS = 25;

/**
 * Every `waitFor` of one process shares one poll: every 150 ms, one
 * statement reads the states of all waited-for ids (`id = any($1)`, the
 * primary key), and a second reads the full rows of those that finished.
 * With nobody waiting there is no timer and no query, and workers never
 * notice: waiting costs the claim path nothing.
 */
export class TaskWaiters {
  private readonly waiting = new Map<string, Set<Waiter>>();
  private timer: NodeJS.Timeout | null = null;
  private polling = false;
  private lastPoll = 0;
  private due = 0;

  constructor(
    private readonly sql: Queryable,
    private readonly pollMs = POLL_MS,
  ) {}

  /** Number of waits in progress. */
  get size(): number {
    let n = 0;
    for (const s of this.waiting.values()) n += s.size;
    return n;
  }

  /**
   * Resolves with the task once it is succeeded, failed or cancelled.
   * Rejects with TASK_NOT_FOUND when there is no such task (or it is
   * deleted meanwhile), TIMEOUT after `timeout`, or the signal's reason.
   */
  wait(id: string | number | bigint, options: WaitOptions = {}): Promise<TaskRecord> {
    const taskId = toTaskId(id);
    const timeoutMs =
      options.timeout === undefined ? null : toMs(options.timeout, 'waitFor timeout');
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<TaskRecord>((resolve, reject) => {
      let timer: NodeJS.Timeout | null = null;
      const onAbort = () => settle(() => reject(signal!.reason));
      const waiter: Waiter = {
        resolve: (t) => settle(() => resolve(t)),
        reject: (e) => settle(() => reject(e)),
      };
      const settle = (fn: () => void) => {
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.remove(taskId, waiter);
        fn();
      };
      if (timeoutMs !== null) {
        timer = setTimeout(
          () =>
            waiter.reject(
              new TandemError(
                'TIMEOUT',
                `task ${taskId} did not finish within ${timeoutMs} ms; it is still running or waiting`,
              ),
            ),
          timeoutMs,
        );
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      let set = this.waiting.get(taskId);
      if (!set) {
        set = new Set();
        this.waiting.set(taskId, set);
      }
      set.add(waiter);
      this.schedule(Math.max(0, this.lastPoll + MIN_GAP_MS - Date.now()));
    });
  }

  private remove(id: string, waiter: Waiter): void {
    const set = this.waiting.get(id);
    if (!set) return;
    set.delete(waiter);
    if (set.size === 0) this.waiting.delete(id);
    if (this.waiting.size === 0 && this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  /**
   * Polls after `delayMs`, or sooner if a poll is already due sooner. A new
   * waiter asks for an early look (its task may be finished already); many
   * arriving at once still share one poll.
   */
  private schedule(delayMs: number): void {
    if (this.polling || this.waiting.size === 0) return;
    const due = Date.now() + delayMs;
    if (this.timer && this.due <= due) return;
    if (this.timer) clearTimeout(this.timer);
    this.due = due;
    this.timer = setTimeout(() => void this.poll(), delayMs);
  }

  private async poll(): Promise<void> {
    this.timer = null;
    if (this.waiting.size === 0) return;
    this.polling = true;
    this.lastPoll = Date.now();
    try {
      const ids = [...this.waiting.keys()];
      const rows = await this.sql.query<{ id: string; done: boolean }>(taskStatesOf, [ids]);
      const seen = new Set<string>();
      const done: string[] = [];
      for (const r of rows) {
        seen.add(r.id);
        if (r.done) done.push(r.id);
      }
      for (const id of ids) {
        if (seen.has(id)) continue;
        for (const w of [...(this.waiting.get(id) ?? [])])
          w.reject(new TandemError('TASK_NOT_FOUND', `no task with id ${id}`));
      }
      if (done.length > 0) {
        for (const row of await this.sql.query<TaskRow>(taskGetMany, [done])) {
          const task = toTaskRecord(row);
          for (const w of [...(this.waiting.get(task.id) ?? [])]) w.resolve(task);
        }
      }
    } catch {
      // The database is unreachable for a moment: keep waiting, try again next time.
    } finally {
      this.polling = false;
      this.schedule(this.pollMs);
    }
  }
}
