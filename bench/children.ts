/** Forks bench worker processes and makes sure none outlives the run. */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { sleep } from './log.js';

const live = new Set<ChildProcess>();
let closed = false;

export interface ChildMessage {
  type: 'loaded' | 'ready' | 'progress' | 'stopped' | 'failed';
  handled?: number;
  /** Pickup latencies (ms) of the tasks started since the last progress message. */
  lags?: number[];
  error?: string;
}

/** Forks `bench/<script>` under tsx with an IPC channel. */
export function forkBenchScript(script: string, args: string[]): ChildProcess {
  if (closed) throw new Error('the run is shutting down');
  const path = fileURLToPath(new URL(script, import.meta.url));
  const child = fork(path, args, {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, TANDEM_LOG_LEVEL: process.env.TANDEM_LOG_LEVEL ?? 'warn' },
  });
  live.add(child);
  child.on('exit', () => live.delete(child));
  // A send racing with the child's exit must not crash the run.
  child.on('error', () => {});
  return child;
}

/** Resolves with the first message of `type` from `child`; rejects on `failed`, exit or timeout. */
export function waitFor(
  child: ChildProcess,
  type: ChildMessage['type'],
  timeoutMs: number,
): Promise<ChildMessage> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => done(new Error(`no ${type} from worker ${child.pid} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onMessage = (m: ChildMessage) => {
      if (m.type === type) done(null, m);
      else if (m.type === 'failed') done(new Error(`worker ${child.pid} failed: ${m.error}`));
    };
    const onExit = (code: number | null) =>
      done(new Error(`worker ${child.pid} exited (code ${code}) before ${type}`));
    function done(err: Error | null, m?: ChildMessage) {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(m!);
    }
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

/** Asks a child to stop; kills it if it has not exited after `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 15_000): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return null;
  let handled: number | null = null;
  if (child.connected) {
    try {
      const stopped = waitFor(child, 'stopped', graceMs);
      child.send({ type: 'stop' });
      handled = (await stopped).handled ?? null;
    } catch {
      // Falls through to the kill below.
    }
  }
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  if (child.exitCode === null && child.signalCode === null) {
    await Promise.race([exited, sleep(1_000)]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  return handled;
}

/** Kills every child still running (on failure or interrupt). */
export function killAllChildren(): void {
  closed = true;
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  live.clear();
}
