/** Runs examples/walkthrough/node-test.ts under node:test, as its users would. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

it('the node:test example passes', async () => {
  const file = fileURLToPath(new URL('./node-test.ts', import.meta.url));
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--test', '--test-reporter=tap', file],
    {
      env: { ...process.env, TANDEM_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    out += s;
  });
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    out += s;
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  expect(code, out).toBe(0);
  expect(out).toMatch(/^# pass 2$/m);
  expect(out).toMatch(/^# fail 0$/m);
});
