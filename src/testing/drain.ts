import type { TandemClient } from '../client/client.js';
import { toMs } from '../duration.js';
import { TandemError } from '../errors.js';
import type { Duration } from '../types.js';
import { type SettleRow, settleRow } from '../worker/outcome.js';
import { InlineWorker, type TaskOutcome } from './inline-worker.js';

export interface DrainOptions {
  /** Queues to run. Default: the queues of every task registered on `tandem`. */
  queues?: readonly string[];
  /** Give up (and throw a TIMEOUT error) when tasks are still running after this long. Default `'10s'`. */
  timeout?: Duration;
}

/** Tasks claimed per round trip; they run one after another. */
const BATCH = 100;

/**
 * Runs every runnable task of the given queues in this process, one after
 * another, until none is left, and returns how each attempt ended, in the
 * order they ran. Tasks that handlers enqueue meanwhile run too. Tasks whose
 * `run_at` is in the future are left alone: delayed tasks, and retries
 * waiting for their backoff (a failed attempt shows as `state: 'retrying'`).
 * Needs no worker: the attempts run through the worker's own runner, so
 * handlers get the context, timeout, transaction and retry rules they get
 * in production.
 *
 * @example
 * // vitest or node:test
 * await placeOrder(db, tandem, { cents: 500 });
 * const outcomes = await drain(tandem, { queues: ['payments'] });
 * assert.deepEqual(outcomes.map((o) => [o.name, o.state]), [['charge-order', 'succeeded']]);
 */
export async function drain(
  tandem: TandemClient,
  options: DrainOptions = {},
): Promise<TaskOutcome[]> {
  const timeoutMs = toMs(options.timeout ?? '10s', 'drain timeout');
  const queues = options.queues ?? [
    ...new Set([...tandem.taskDefinitions.values()].map((t) => t.queue)),
  ];
  if (queues.length === 0) {
    throw new TandemError(
      'INVALID_OPTIONS',
      'drain needs task definitions: pass them in createTandem({ tasks: [...] }), or name queues',
    );
  }
  const deadline = Date.now() + timeoutMs;
  return InlineWorker.use(tandem, async (worker) => {
    const outcomes: TaskOutcome[] = [];
    let settle: SettleRow[] = [];
    for (;;) {
      const late = Date.now() >= deadline;
      const settled = settle.length;
      const claimed = await worker.settleAndClaim(settle, queues, late ? 0 : BATCH);
      settle = [];
      if (late) {
        throw new TandemError(
          'TIMEOUT',
          `drain: tasks were still running after ${timeoutMs} ms (${outcomes.length} attempts ran); a handler that enqueues forever, or raise the timeout`,
        );
      }
      // The claim half of a statement does not see what its settle half
      // wrote: a retry without backoff is runnable only on the next round.
      if (claimed.length === 0 && settled === 0) return outcomes;
      for (const task of claimed) {
        if (Date.now() >= deadline) {
          // Give the rest back untouched.
          settle.push(settleRow(task, undefined, { kind: 'released' }, worker.id)!);
          continue;
        }
        const ran = await worker.run(task, { deadline });
        outcomes.push(ran.outcome);
        if (ran.settle) settle.push(ran.settle);
      }
    }
  });
}
