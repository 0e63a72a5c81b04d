import type { TandemClient } from '../client/client.js';
import type { AnyTask } from '../task.js';
import type { Logger } from '../types.js';
import { AttemptAbort, TaskAbortError } from './abort.js';
import { type ClaimedTask, type Outcome, type SettleRow, settleRow } from './outcome.js';
import { type QueueState, recordDuration } from './queues.js';
import type { Rollup } from './rollup.js';
import { runAttempt } from './runner.js';

/** One running attempt. */
export interface Slot {
  /** `id#token`: two attempts of one task on this worker never share a slot. */
  key: string;
  task: ClaimedTask;
  def: AnyTask;
  queue: QueueState;
  abort: AttemptAbort;
  /** Its outcome was already queued for writing (timeout or cancel), or must not be written. */
  settled: boolean;
  started: number;
  timer: NodeJS.Timeout | null;
  done: Promise<void>;
}

/** Counts of outcomes since start, for progress displays and tests. */
export interface WorkerStats {
  claimed: number;
  succeeded: number;
  failed: number;
  retried: number;
  cancelled: number;
  snoozed: number;
}

/** What the slots need of their worker. */
export interface SlotsHost {
  /** The worker's id now (it changes when the worker registers again). */
  readonly id: string;
  /** Queues an outcome for the next round trip. */
  outcome(row: SettleRow): void;
  /** An outcome was queued outside a handler's end (timeout, cancel): write it soon. */
  settled(): void;
  /** A slot of `q` is free again. */
  freed(q: QueueState): void;
}

/** How long a handler may ignore its timeout before the worker says so. */
const IGNORED_SIGNAL_WARN_MS = 5_000;

/**
 * The worker's running attempts, keyed by task id and claim token: starting
 * a handler, its timeout, a cancel, and turning how it ended into the row
 * the next round trip writes (with the counts and the rollup).
 */
export class Slots {
  private readonly slots = new Map<string, Slot>();

  constructor(
    private readonly client: TandemClient,
    private readonly rollup: Rollup,
    private readonly stats: WorkerStats,
    private readonly logger: Logger,
    private readonly host: SlotsHost,
  ) {}

  get size(): number {
    return this.slots.size;
  }

  values(): IterableIterator<Slot> {
    return this.slots.values();
  }

  /** Resolves when every attempt running now has returned. */
  allDone(): Promise<unknown> {
    return Promise.all([...this.slots.values()].map((s) => s.done));
  }

  /** Starts `task` in a slot of `q`. */
  start(q: QueueState, task: ClaimedTask): void {
    const def = this.client.taskDefinitions.get(task.name)!;
    const abort = new AttemptAbort();
    const slot: Slot = {
      key: `${task.id}#${task.token}`,
      task,
      def,
      queue: q,
      abort,
      settled: false,
      started: performance.now(),
      timer: null,
      done: Promise.resolve(),
    };
    q.running++;
    this.slots.set(slot.key, slot);
    const timeoutMs = task.timeout_ms ?? def.timeoutMs;
    if (timeoutMs) slot.timer = setTimeout(() => this.timeOut(slot, timeoutMs), timeoutMs);
    slot.done = runAttempt(task, def, abort, {
      db: this.client.db,
      workerId: this.host.id,
      logger: this.logger,
      middleware: this.client.middleware,
    }).then((outcome) => this.finish(slot, outcome));
  }

  /** A task was cancelled: abort its running attempts. */
  cancel(id: string): void {
    for (const slot of this.slots.values()) {
      if (slot.task.id !== id || slot.abort.reason) continue;
      slot.abort.abort(
        new TaskAbortError('cancel', `task ${slot.task.name} (id ${id}) was cancelled`),
      );
      if (!slot.def.transactional) this.settleNow(slot, { kind: 'cancelled' });
    }
  }

  /**
   * The worker lost its tasks (declared dead): abort every attempt and write
   * nothing for them (the guarded settle would ignore it). Returns how many.
   */
  drop(why: string): number {
    let n = 0;
    for (const slot of this.slots.values()) {
      if (slot.settled) continue;
      slot.settled = true;
      slot.abort.abort(new TaskAbortError('lost', `worker ${this.host.id} lost this task: ${why}`));
      n++;
    }
    return n;
  }

  /**
   * Shutdown timeout: abort every attempt and give the tasks back without
   * counting the attempt. Resolves when the transactional ones have rolled
   * back (they hold their row locks until then), at most after `ms`.
   */
  async abortAll(ms: number): Promise<void> {
    const transactional: Promise<void>[] = [];
    for (const slot of this.slots.values()) {
      slot.abort.abort(new TaskAbortError('shutdown', 'worker is shutting down'));
      if (slot.def.transactional) transactional.push(slot.done);
      else this.settleNow(slot, { kind: 'released' });
    }
    let t: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(transactional),
      new Promise<void>((r) => (t = setTimeout(r, ms))),
    ]);
    clearTimeout(t);
  }

  private timeOut(slot: Slot, ms: number): void {
    slot.timer = null;
    const reason = new TaskAbortError(
      'timeout',
      `task ${slot.task.name} (id ${slot.task.id}) timed out after ${ms} ms`,
    );
    slot.abort.abort(reason);
    // A transactional task still holds its row lock: its failure is written once its transaction ends.
    if (!slot.def.transactional)
      this.settleNow(slot, { kind: 'failed', error: reason, permanent: false });
    const warn = setTimeout(() => {
      if (this.slots.get(slot.key) === slot) {
        this.logger.warn(
          { taskId: slot.task.id, task: slot.task.name },
          'handler ignores ctx.signal: still running after its timeout; its slot stays taken until it returns',
        );
      }
    }, IGNORED_SIGNAL_WARN_MS);
    warn.unref?.();
  }

  private settleNow(slot: Slot, outcome: Outcome): void {
    if (slot.settled) return;
    slot.settled = true;
    this.record(slot, outcome);
    this.host.settled();
  }

  private finish(slot: Slot, outcome: Outcome): void {
    if (slot.timer) clearTimeout(slot.timer);
    const q = slot.queue;
    q.running--;
    this.slots.delete(slot.key);
    recordDuration(q, performance.now() - slot.started);
    if (!slot.settled) {
      slot.settled = true;
      this.record(slot, outcome);
    }
    this.host.freed(q);
  }

  private record(slot: Slot, outcome: Outcome): void {
    const row = settleRow(slot.task, slot.def, outcome, this.host.id);
    if (row) this.host.outcome(row);
    this.rollup.record(slot.task, row, outcome, slot.started);
    const s = this.stats;
    if (outcome.kind === 'committed' || row?.state === 'succeeded') s.succeeded++;
    else if (row?.state === 'failed') s.failed++;
    else if (row?.state === 'cancelled') s.cancelled++;
    else if (outcome.kind === 'failed') s.retried++;
    else if (outcome.kind === 'snoozed') s.snoozed++;
    if (outcome.kind === 'failed') {
      const err = outcome.error as Error;
      this.logger.warn(
        {
          taskId: slot.task.id,
          task: slot.task.name,
          attempt: slot.task.attempt,
          next: row?.state,
          err: { name: safe(() => err?.name), message: safe(() => err?.message) },
        },
        'task attempt failed',
      );
    }
  }
}

function safe<T>(fn: () => T): T | string {
  try {
    return fn();
  } catch {
    return '(unreadable)';
  }
}
