/**
 * A real headless Chromium for the dashboard's browser tests: Debian's
 * `chromium` (or TANDEM_CHROMIUM), driven by playwright-core. Without a
 * browser the tests fail in CI with the command that installs one, and are
 * skipped with that message elsewhere (test/support/services.ts).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';
import { available } from './services.js';

const INSTALL =
  'apt-get update && apt-get install -y chromium, or set TANDEM_CHROMIUM to a Chromium or Chrome binary';

/** Whether the browser tests can run here (throws in CI when they cannot). */
export function browserAvailable(): boolean {
  let found = true;
  try {
    chromiumPath();
  } catch {
    found = false;
  }
  return available('a headless Chromium', found, INSTALL);
}

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
];

/** The browser binary: TANDEM_CHROMIUM, else `command -v chromium`. */
export function chromiumPath(): string {
  const given = process.env.TANDEM_CHROMIUM;
  if (given) {
    if (!existsSync(given)) throw new Error(`TANDEM_CHROMIUM=${given}: no such file`);
    return given;
  }
  for (const name of ['chromium', 'chromium-browser']) {
    try {
      const path = execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
      if (path) return path;
    } catch {}
  }
  throw new Error(
    "the dashboard's browser tests need a headless Chromium: install Debian's with `apt-get update && apt-get install -y chromium`, or set TANDEM_CHROMIUM to a Chromium or Chrome binary",
  );
}

/** Launches Chromium with a fresh profile (Playwright makes a new user-data-dir for each launch). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath(), args: CHROMIUM_ARGS, timeout: 30_000 });
}
