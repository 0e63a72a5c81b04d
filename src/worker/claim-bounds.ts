/**
 * Where each claim starts, so that claims stay cheap when vacuum cannot
 * keep up.
 *
 * Every claimed row leaves a dead entry at the head of the claim index.
 * Vacuum removes them, unless something pins the xmin horizon: a long
 * transaction, a forgotten `psql` session, a REPEATABLE READ report. Then
 * each claim that starts from the head of the index steps over every task
 * claimed since, and the claim rate collapses. So the worker remembers, per
 * queue and priority, the key `(run_at, id)` of the last row it claimed and
 * starts the next scan just past it (a keyset bound: an index condition, so
 * the dead head is never read, and with `priority = p` the `run_at <= now()`
 * condition ends the scan at the first task not yet due).
 *
 * A bound must never pass a row that is still to become claimable. New
 * tasks get `run_at = now()`, the start of the enqueuing transaction, so a
 * row can appear behind a bound only if its transaction was already
 * running when rows after it were claimed. Each round records its last key
 * as a checkpoint, with the transactions in progress in the round's
 * snapshot. A checkpoint is safe once a later round's snapshot shows each of
 * them finished (so their rows were visible to a round that still scanned
 * from before the checkpoint, and it claimed them), or running for longer
 * than LAG_MAX_MS: a transaction open that long (the idle session pinning
 * the horizon, a migration) must not hold every bound back, and a task it
 * commits behind a bound waits for the probe.
 *
 * The probe (claim-probe.ts) finds what lands behind the bounds: tasks
 * given back with their old `run_at`, an explicit `runAt` in the past, a
 * late commit, priorities this worker has not seen. It reads the first
 * runnable key of each priority from the head of the index, on a
 * connection of its own, and moves a bound back before it (`lower`). So
 * the dead head is read there, every few seconds, and never while a claim
 * waits. A round planned before a bound moved back learns nothing about
 * that priority: its scan started past the key the probe found.
 */

/** A key in claim order within one queue and priority: `(run_at, id)`. */
export interface ClaimKey {
  /** run_at in UTC as `YYYY-MM-DD HH:MM:SS.UUUUUU` (fixed width, so text order is time order). */
  runAt: string;
  id: bigint;
}

/** What a round claimed of one queue, as the bounds need it. */
export interface ClaimedKey {
  priority: number;
  runAt: string;
  id: string;
}

/** One bounded scan for the claim statement: a priority and where to start. */
export interface BoundRow {
  priority: number;
  runAt: string;
  id: string;
}

/** The snapshot of a round: xmin, xmax and the transactions in progress. */
export interface RoundSnapshot {
  xmin: bigint;
  xmax: bigint;
  xip: bigint[];
}

const LAG_MAX_MS = 1_000;
const MAX_PRIORITIES = 16;
/** Before any task: run_at is checked to lie between 1970 and 9999 at enqueue. */
const FROM_START: ClaimKey = { runAt: '0001-01-01 00:00:00.000000', id: 0n };

interface Checkpoint {
  key: ClaimKey;
  /** Transactions in progress when it was claimed: rows behind it can only be theirs. */
  xip: bigint[];
}

interface PriorityState {
  bound: ClaimKey;
  checkpoints: Checkpoint[];
  lastClaimAt: number;
  /** The generation in which the probe last moved this bound back. */
  lowered: number;
}

interface QueueBounds {
  priorities: Map<number, PriorityState>;
}

/** Keys compare as text (run_at in UTC, fixed width) then id. */
function compareKeys(a: ClaimKey, b: ClaimKey): number {
  if (a.runAt !== b.runAt) return a.runAt < b.runAt ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

const maxKey = (a: ClaimKey, b: ClaimKey) => (compareKeys(a, b) >= 0 ? a : b);
const minKey = (a: ClaimKey, b: ClaimKey) => (compareKeys(a, b) <= 0 ? a : b);

export class ClaimBounds {
  private readonly queues = new Map<string, QueueBounds>();
  /** When each transaction in progress was first seen running. */
  private readonly firstSeen = new Map<bigint, number>();
  private snapshot: RoundSnapshot = { xmin: 0n, xmax: 0n, xip: [] };
  private inProgress = new Set<bigint>();
  private seenAt = 0;
  /** Bumped each time the probe moves a bound back; rounds record it when planned. */
  generation = 0;

  /** @param known queue → priorities of the task definitions it holds (scanned from the start). */
  constructor(known: ReadonlyMap<string, readonly number[]>) {
    for (const [queue, prios] of known) {
      const q = this.queue(queue);
      for (const p of prios) this.priority(q, p, 0);
    }
  }

  private queue(name: string): QueueBounds {
    let q = this.queues.get(name);
    if (!q) {
      q = { priorities: new Map() };
      this.queues.set(name, q);
    }
    return q;
  }

  private priority(q: QueueBounds, p: number, now: number): PriorityState {
    let s = q.priorities.get(p);
    if (!s) {
      s = { bound: FROM_START, checkpoints: [], lastClaimAt: now, lowered: 0 };
      q.priorities.set(p, s);
      if (q.priorities.size > MAX_PRIORITIES) {
        // Forget the priority claimed from least recently; the probe finds it again.
        let oldest: number | null = null;
        for (const [k, v] of q.priorities)
          if (k !== p && (oldest === null || v.lastClaimAt < q.priorities.get(oldest)!.lastClaimAt))
            oldest = k;
        if (oldest !== null) q.priorities.delete(oldest);
      }
    }
    return s;
  }

  /**
   * Moves bounds back before the first runnable key of each priority the
   * probe found, and starts the priorities not seen yet there; true when
   * one moved or started.
   */
  lower(queue: string, found: readonly BoundRow[], now = performance.now()): boolean {
    const q = this.queue(queue);
    let moved = false;
    for (const f of found) {
      const seen = q.priorities.has(f.priority);
      const s = this.priority(q, f.priority, now);
      const before: ClaimKey = { runAt: f.runAt, id: BigInt(f.id) - 1n };
      // A priority seen first here starts at the key found, not at the head.
      if (seen && compareKeys(before, s.bound) >= 0) continue;
      if (!moved) this.generation++;
      moved = true;
      s.bound = before;
      s.checkpoints = [];
      s.lowered = this.generation;
    }
    return moved;
  }

  /** The bounded scans of `queue` for the next round. */
  bounds(queue: string): BoundRow[] {
    const out: BoundRow[] = [];
    for (const [priority, s] of this.queue(queue).priorities)
      out.push({ priority, runAt: s.bound.runAt, id: String(s.bound.id) });
    return out;
  }

  /** Records a round's snapshot; call once per round, before `observe`. */
  snapshotSeen(snapshot: RoundSnapshot, now = performance.now()): void {
    this.snapshot = snapshot;
    this.seenAt = now;
    this.inProgress = new Set(snapshot.xip);
    for (const x of snapshot.xip) if (!this.firstSeen.has(x)) this.firstSeen.set(x, now);
    for (const x of this.firstSeen.keys()) if (!this.inProgress.has(x)) this.firstSeen.delete(x);
  }

  /** Whether a transaction of a checkpoint is finished, or open too long to wait for. */
  private settled(x: bigint): boolean {
    const s = this.snapshot;
    if (x < s.xmin || (x < s.xmax && !this.inProgress.has(x))) return true;
    const first = this.firstSeen.get(x);
    return first !== undefined && this.seenAt - first >= LAG_MAX_MS;
  }

  /**
   * Learns from one round that scanned `queue`: what it claimed (in claim
   * order), and (through `snapshotSeen`) its snapshot. `exhaustedTo` is set
   * when the round found fewer rows than it asked for: then no row of this
   * worker's task names was left up to that run_at (one second before the
   * round's now()), and the bounds may move there, past rows of names other
   * workers run, once the round's transactions in progress have settled.
   * `generation` is the one the round was planned in.
   */
  observe(
    queue: string,
    claimed: readonly ClaimedKey[],
    exhaustedTo: string | null,
    generation: number,
    now = performance.now(),
  ): void {
    const q = this.queue(queue);
    const exhausted = exhaustedTo !== null;
    const last = new Map<number, ClaimKey>();
    for (const c of claimed) last.set(c.priority, { runAt: c.runAt, id: BigInt(c.id) });
    for (const p of last.keys()) this.priority(q, p, now).lastClaimAt = now;
    const upTo: ClaimKey | null = exhausted ? { runAt: exhaustedTo, id: 0n } : null;
    for (const [p, s] of q.priorities) {
      // Moved back after the round was planned: the round scanned past the probe's key.
      if (s.lowered > generation) continue;
      const claimedTo = last.get(p);
      const k = upTo ? (claimedTo ? maxKey(claimedTo, upTo) : upTo) : claimedTo;
      if (k && compareKeys(k, s.bound) > 0) s.checkpoints.push({ key: k, xip: this.snapshot.xip });
      // The newest checkpoint this round proves safe.
      let safe: Checkpoint | null = null;
      let keepFrom = 0;
      for (let i = 0; i < s.checkpoints.length; i++) {
        const c = s.checkpoints[i]!;
        if (c.xip.every((x) => this.settled(x))) {
          safe = c;
          keepFrom = i + 1;
        }
      }
      s.checkpoints.splice(0, keepFrom);
      if (!safe) continue;
      // Every visible row up to the last one claimed here was claimed; past
      // it only when the round found no more.
      const to = exhausted ? safe.key : k ? minKey(safe.key, k) : null;
      if (to) s.bound = maxKey(s.bound, to);
    }
  }
}
