import type { ClaimedTask } from './outcome.js';

/** One queue as this worker runs it: slots, the tasks claimed ahead, and when to claim more. */
export interface QueueState {
  name: string;
  concurrency: number;
  running: number;
  /** Claimed ahead of free slots, in claim order. */
  buffer: ClaimedTask[];
  /** The last claim found fewer tasks than asked; wait for a wake-up. */
  exhausted: boolean;
  /** Bumped by every wake-up, so a claim that raced with one does not mark the queue exhausted. */
  wakes: number;
  /** Moving average of handler duration, ms. */
  avgMs: number;
  followUps: NodeJS.Timeout[];
  /** Paused fleet-wide, as far as this worker knows: claim nothing, start nothing. */
  paused: boolean;
  /** Its limited tasks came back short: wait for a wake-up before claiming them again (flow.ts). */
  flowWaiting: boolean;
}

export function newQueue(name: string, concurrency: number): QueueState {
  return {
    name,
    concurrency,
    running: 0,
    buffer: [],
    exhausted: false,
    wakes: 0,
    avgMs: Number.NaN,
    followUps: [],
    paused: false,
    flowWaiting: false,
  };
}

/**
 * How many tasks to hold claimed ahead of free slots: about `windowMs` of
 * work at the measured handler duration, at most `maxPrefetch`. Before the
 * first measurement, as many as there are slots (still at most `maxPrefetch`).
 */
export function prefetchOf(q: QueueState, windowMs: number, maxPrefetch: number): number {
  if (Number.isNaN(q.avgMs)) return Math.min(maxPrefetch, q.concurrency);
  const ahead = Math.round((q.concurrency * windowMs) / Math.max(q.avgMs, 0.01));
  return Math.max(maxPrefetch === 0 ? 0 : 1, Math.min(maxPrefetch, ahead));
}

/** Records one handler's duration in the queue's moving average. */
export function recordDuration(q: QueueState, ms: number): void {
  q.avgMs = Number.isNaN(q.avgMs) ? ms : q.avgMs * 0.9 + ms * 0.1;
}
