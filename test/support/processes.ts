import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface WorkerProcess {
  child: ChildProcess;
  id: string;
  pid: number;
  exited: Promise<number | null>;
}

/** Spawns a worker script (test/support/worker-process.ts) and waits for its "ready" line. */
export async function spawnWorker(
  env: Record<string, string>,
  script = 'test/support/worker-process.ts',
): Promise<WorkerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  const lines = createInterface({ input: child.stdout! });
  const ready = await new Promise<{ id: string; pid: number }>((res, rej) => {
    lines.on('line', (l) => {
      const msg = JSON.parse(l);
      if (msg.event === 'ready') res(msg);
    });
    child.on('exit', (code) =>
      rej(new Error(`worker process exited with ${code} before it was ready`)),
    );
  });
  return { child, id: ready.id, pid: ready.pid, exited };
}
