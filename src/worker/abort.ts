/** Why a running attempt's signal was aborted; the reason decides its outcome. */
export type AbortKind = 'timeout' | 'cancel' | 'shutdown' | 'lost';

export class TaskAbortError extends Error {
  readonly kind: AbortKind;
  constructor(kind: AbortKind, message: string) {
    super(message);
    this.name = kind === 'timeout' ? 'TimeoutError' : 'AbortError';
    this.kind = kind;
  }
}

/**
 * One attempt's abort switch. Its AbortSignal is made on first use: most
 * handlers never read `ctx.signal`, and an AbortController per task was the
 * largest single cost of a no-op task in the worker's profile. A signal read
 * after the abort comes back already aborted, with the same reason.
 */
export class AttemptAbort {
  private controller: AbortController | null = null;
  private why: TaskAbortError | null = null;

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.why) this.controller.abort(this.why);
    }
    return this.controller.signal;
  }

  /** The reason, once aborted; null before. */
  get reason(): TaskAbortError | null {
    return this.why;
  }

  abort(reason: TaskAbortError): void {
    if (this.why) return;
    this.why = reason;
    this.controller?.abort(reason);
  }
}
