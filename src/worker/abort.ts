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

export function abortKind(signal: AbortSignal): AbortKind | null {
  return signal.aborted && signal.reason instanceof TaskAbortError ? signal.reason.kind : null;
}
