/**
 * Starts one PostgreSQL for the whole run (embedded, or the server named by
 * TANDEM_TEST_DATABASE_URL), migrates a template database once, and hands
 * its name to the test files, which clone it (CREATE DATABASE … TEMPLATE).
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../../src/embedded.js';
import { createTandem } from '../../src/index.js';

declare module 'vitest' {
  export interface ProvidedContext {
    adminUrl: string;
    templateDb: string;
  }
}

export function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

export default async function setup(project: TestProject) {
  let adminUrl = process.env.TANDEM_TEST_DATABASE_URL;
  let stopServer = async () => {};
  if (!adminUrl) {
    const server = await startEmbeddedPostgres({
      dataDir: join(tmpdir(), `tandem-test-${process.pid}-${Date.now()}`),
      ephemeral: true,
      postgresFlags: ['-c', 'fsync=off', '-c', 'full_page_writes=off', '-c', 'max_connections=300'],
    });
    adminUrl = server.connectionString;
    stopServer = server.stop;
  }
  const templateDb = `tandem_tpl_${process.pid}`;
  const admin = new pg.Client(adminUrl);
  await admin.connect();
  await admin.query(`drop database if exists ${templateDb}`);
  await admin.query(`create database ${templateDb}`);
  const tandem = createTandem({ connectionString: withDatabase(adminUrl, templateDb) });
  await tandem.migrate();
  await tandem.close();
  project.provide('adminUrl', adminUrl);
  // For the examples' tests, which use createTestDatabase() as users do.
  process.env.TANDEM_TEST_DATABASE_URL = adminUrl;
  project.provide('templateDb', templateDb);

  return async () => {
    const { rows } = await admin.query<{ datname: string }>(
      `select datname from pg_database where datname like $1 or datname = $2`,
      [`tandem_t_${process.pid}_%`, templateDb],
    );
    for (const r of rows) await admin.query(`drop database if exists ${r.datname} with (force)`);
    await admin.end();
    await stopServer();
  };
}
