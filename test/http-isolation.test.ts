/** Users of the core never load the HTTP stack: only tandem-queue/http (or tandem.server()) loads Hono and prom-client. */
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

function loaded(script: string): string[] {
  const log = join(
    tmpdir(),
    `tandem-imports-${process.pid}-${Math.random().toString(36).slice(2)}`,
  );
  const r = spawnSync(
    process.execPath,
    [
      '--import',
      './test/support/record-imports.mjs',
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      script,
    ],
    { cwd: root, env: { ...process.env, TANDEM_IMPORT_LOG: log }, encoding: 'utf8' },
  );
  expect(r.status, r.stderr).toBe(0);
  const urls = readFileSync(log, 'utf8').split('\n');
  rmSync(log, { force: true });
  return urls.filter((u) => /node_modules\/(hono|@hono|prom-client)\//.test(u));
}

it('importing tandem-queue and creating an instance loads neither Hono nor prom-client; tandem-queue/http does', () => {
  const core = loaded(
    "const { createTandem } = await import('./src/index.ts'); const t = createTandem({ connectionString: 'postgres://x@127.0.0.1:1/x' }); await t.close();",
  );
  expect(core).toEqual([]);
  const http = loaded("await import('./src/http/index.ts');");
  expect(http.some((u) => u.includes('/hono/'))).toBe(true);
  expect(http.some((u) => u.includes('/prom-client/'))).toBe(true);
});
