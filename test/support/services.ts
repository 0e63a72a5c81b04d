/**
 * Tests that need something beyond PostgreSQL (PgBouncer, a browser, a
 * broker) run wherever it is installed. Where it is missing they are
 * skipped with a message on a developer's machine, so `npm test` works on a
 * fresh one, and fail in CI (`CI` or `TANDEM_REQUIRE_SERVICES` set), where
 * `.ci/run` installs and starts them.
 */
import { execFileSync } from 'node:child_process';

export const servicesRequired = !!(process.env.CI || process.env.TANDEM_REQUIRE_SERVICES);

/** The path of `command`, or null. */
export function findCommand(command: string, candidates: string[] = []): string | null {
  for (const c of candidates) {
    try {
      execFileSync(c, ['--version'], { stdio: 'ignore' });
      return c;
    } catch {}
  }
  try {
    return execFileSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

/**
 * Whether a suite needing `what` should run. Throws in CI when it is missing;
 * elsewhere prints why the suite is skipped.
 */
export function available(what: string, found: boolean, install: string): boolean {
  if (found) return true;
  const message = `${what} is not available (${install})`;
  if (servicesRequired) throw new Error(`${message}; CI needs it`);
  console.warn(`skipping the tests that need ${what}: ${message}`);
  return false;
}
