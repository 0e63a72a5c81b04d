import { lstat, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { startEmbeddedPostgres } from '../src/embedded.js';

const cleanup: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
});

it('runs one server per data directory and reuses it from a second start', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tandem-embedded-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const first = await startEmbeddedPostgres({ dataDir: join(dir, 'pg') });
  cleanup.push(async () => {
    await first.stop();
    // As root under a mode-700 temp dir, the cluster lives elsewhere (see the next test).
    await rm(first.dataDir, { recursive: true, force: true });
  });
  const second = await startEmbeddedPostgres({ dataDir: join(dir, 'pg') });
  expect(first.owned).toBe(true);
  expect(second).toMatchObject({
    owned: false,
    port: first.port,
    connectionString: first.connectionString,
  });
  const c = new pg.Client(second.connectionString);
  await c.connect();
  expect((await c.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
  await c.end();
});

it.runIf(userInfo().uid === 0)(
  'as root, keeps the cluster where the postgres user can reach it when the project sits in a private directory',
  async () => {
    const home = await mkdtemp(join(tmpdir(), 'tandem-private-home-'));
    cleanup.push(() => rm(home, { recursive: true, force: true }));
    // mkdtemp makes it mode 700, like root's home.
    const project = join(home, 'project');
    await mkdir(project);
    const server = await startEmbeddedPostgres({ dataDir: join(project, '.tandem', 'pg') });
    cleanup.push(async () => {
      await server.stop();
      await rm(server.dataDir, { recursive: true, force: true });
    });
    expect((await lstat(join(project, '.tandem', 'pg'))).isSymbolicLink()).toBe(true);
    expect(server.dataDir.startsWith(tmpdir())).toBe(true);
    const c = new pg.Client(server.connectionString);
    await c.connect();
    await c.end();
  },
);
