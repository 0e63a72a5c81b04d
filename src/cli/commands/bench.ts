import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { CliError } from '../errors.js';

/** The package root: three levels up from src/cli/commands (or dist/cli/commands). */
const root = fileURLToPath(new URL('../../../', import.meta.url));

export function register(program: Command, hidden = false): void {
  program
    .command('bench', { hidden })
    .description(
      'run the benchmarks (bench/run.ts) against graphile-worker and pg-boss; arguments pass through',
    )
    .argument('[args...]', 'passed to bench/run.ts (`tandem bench -- --help` shows its own help)')
    .allowUnknownOption()
    .passThroughOptions()
    .action(async (args: string[]) => {
      const script = join(root, 'bench', 'run.ts');
      if (!existsSync(script)) {
        throw new CliError(
          `no benchmark at ${script}: \`tandem bench\` runs bench/run.ts from a checkout of the Tandem repository (it is not part of the npm package)`,
        );
      }
      process.exitCode = await runChild(script, args);
    });
}

function runChild(script: string, args: string[]): Promise<number> {
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), script, ...args], {
    cwd: root,
    stdio: 'inherit',
  });
  // A terminal's Ctrl-C reaches the child directly (same process group); a
  // SIGTERM sent to this process alone is passed on.
  const ignore = () => {};
  const forward = () => child.kill('SIGTERM');
  process.on('SIGINT', ignore);
  process.on('SIGTERM', forward);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      process.off('SIGINT', ignore);
      process.off('SIGTERM', forward);
      resolve(code ?? 128 + (signal ? constants.signals[signal] : 1));
    });
  });
}
